package seal_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/querygate/querygate/internal/seal"
)

// ExampleEnvelope seals a datasource's secrets for their place in the store
// and opens them again. The same blob copied to another place does not open.
func ExampleEnvelope() {
	ring, err := seal.NewKeyRing(seal.GenerateKeyID(), seal.GenerateKey())
	if err != nil {
		panic(err)
	}
	salt := make([]byte, 32) // made once per instance and kept in the store
	rand.Read(salt)
	env, err := seal.NewEnvelope(seal.EnvelopeOptions{Ring: ring, Salt: salt})
	if err != nil {
		panic(err)
	}

	place := []byte("datasource/ds_1/secrets")
	blob, err := env.Seal("", []byte(`{"password":"s3cret"}`), place)
	if err != nil {
		panic(err)
	}
	id, _ := seal.BlobKeyID(blob)
	fmt.Println("sealed under the primary key:", id == ring.Primary())

	plaintext, err := env.Open(blob, place)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(plaintext))

	_, err = env.Open(blob, []byte("datasource/ds_2/secrets"))
	fmt.Println("at another place:", errors.Is(err, seal.ErrOpen))
	// Output:
	// sealed under the primary key: true
	// {"password":"s3cret"}
	// at another place: true
}

// ExampleCookies seals a value into a cookie bound to its name and opens it.
func ExampleCookies() {
	salt := make([]byte, 32)
	rand.Read(salt)
	cookies := seal.NewCookies(seal.GenerateKey(), salt)

	v := cookies.Seal("__Host-qg-dk-ds_1", []byte("device key"), time.Now().Add(time.Hour))
	got, _, err := cookies.Open("__Host-qg-dk-ds_1", v)
	fmt.Println(string(got), err)

	_, _, err = cookies.Open("__Host-qg-dk-ds_2", v)
	fmt.Println(err == seal.ErrCookie)
	// Output:
	// device key <nil>
	// true
}

package seal_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/seal"
)

const canary = "canary-pw-7Hq2zX"

func TestSecret(t *testing.T) {
	s := seal.NewSecret(canary)
	if got := s.Reveal(); got != canary {
		t.Errorf("Reveal: got %q, want %q", got, canary)
	}
	if s.IsZero() {
		t.Error("IsZero: got true for a set secret")
	}
	for _, z := range []seal.Secret{{}, seal.NewSecret("")} {
		if !z.IsZero() || z.Reveal() != "" {
			t.Errorf("empty secret: IsZero %v, Reveal %q", z.IsZero(), z.Reveal())
		}
	}
}

// redactionCases returns values that hold the canary secret or key, in the
// ways code might come to print them.
func redactionCases(t *testing.T) (secret string, cases map[string]any) {
	t.Helper()
	s := seal.NewSecret(canary)
	k, err := seal.ParseKey("Y2FuYXJ5LWtleS1jYW5hcnkta2V5LWNhbmFyeS1rZXk=")
	if err != nil {
		t.Fatal(err)
	}
	type exported struct {
		Name     string
		Password seal.Secret
		Key      seal.Key
	}
	type unexported struct {
		name     string
		password seal.Secret
		key      seal.Key
	}
	type withMap struct {
		headers map[string]seal.Secret
		any     map[string]any
	}
	return canary, map[string]any{
		"Secret":                     s,
		"*Secret":                    &s,
		"Key":                        k,
		"*Key":                       &k,
		"struct, exported fields":    exported{"n", s, k},
		"*struct, exported fields":   &exported{"n", s, k},
		"struct, unexported fields":  unexported{"n", s, k},
		"*struct, unexported fields": &unexported{"n", s, k},
		"[]Secret":                   []seal.Secret{s, s},
		"map[string]Secret":          map[string]seal.Secret{"Authorization": s},
		"map[string]any":             map[string]any{"password": s, "key": k},
		"struct of maps":             withMap{map[string]seal.Secret{"X-Api-Key": s}, map[string]any{"p": s, "k": k}},
		"[]any":                      []any{s, k, &s},
		"error wrapping":             fmt.Errorf("connect: %v", s),
	}
}

// leaks reports whether out holds the canary or the canary key in any
// spelling a formatter might use.
func leaks(out string) bool {
	for _, s := range []string{
		canary, "7Hq2zX", // the secret
		"canary-key", "Y2FuYXJ5LWtleS1", "63616e617279", "[99 97 110 97 114 121", // the key: text, base64, hex, bytes
	} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}

func TestRedactionFmt(t *testing.T) {
	_, cases := redactionCases(t)
	// Every verb fmt knows, so that no verb bypasses the redaction: %d,
	// %t and friends do not call String, and nothing is called for a value
	// reached through an unexported field.
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%b", "%o", "%c", "%U", "%e", "%g", "%p", "%T", "%10.3v", "%-8s"}
	for name, v := range cases {
		for _, verb := range verbs {
			out := fmt.Sprintf(verb, v)
			if leaks(out) {
				t.Errorf("%s with %s: %s", name, verb, out)
			}
		}
		if out := fmt.Sprint(v) + fmt.Sprintln(v); leaks(out) {
			t.Errorf("%s with Sprint: %s", name, out)
		}
	}
}

func TestRedactionShowsREDACTED(t *testing.T) {
	s := seal.NewSecret(canary)
	k := seal.GenerateKey()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for name, v := range map[string]any{"Secret": s, "Key": k, "struct": struct{ P seal.Secret }{s}} {
			if out := fmt.Sprintf(verb, v); !strings.Contains(out, "REDACTED") {
				t.Errorf("%s with %s: got %q, want REDACTED", name, verb, out)
			}
		}
	}
}

func TestRedactionSlog(t *testing.T) {
	_, cases := redactionCases(t)
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	}
	for hname, mk := range handlers {
		t.Run(hname, func(t *testing.T) {
			for name, v := range cases {
				var buf bytes.Buffer
				log := slog.New(mk(&buf))
				log.Info("msg", "value", v)
				log.Info("msg", slog.Any("any", v), slog.Group("g", "nested", v))
				log.With("with", v).Info("msg")
				log.Info(fmt.Sprint(v))
				if leaks(buf.String()) {
					t.Errorf("%s: %s", name, buf.String())
				}
			}
			var buf bytes.Buffer
			log := slog.New(mk(&buf))
			log.Info("msg", "password", seal.NewSecret(canary), "key", seal.GenerateKey())
			if got := strings.Count(buf.String(), "REDACTED"); got != 2 {
				t.Errorf("got %d REDACTED in %s, want 2", got, buf.String())
			}
		})
	}
}

func TestRedactionJSON(t *testing.T) {
	_, cases := redactionCases(t)
	for name, v := range cases {
		b, err := json.Marshal(v)
		if err != nil {
			// Values json cannot encode are fine, as long as the error
			// does not echo them.
			if leaks(err.Error()) {
				t.Errorf("%s: json error %v", name, err)
			}
			continue
		}
		if leaks(string(b)) {
			t.Errorf("%s: %s", name, b)
		}
	}
	type body struct {
		Password seal.Secret            `json:"password"`
		Key      seal.Key               `json:"key"`
		Headers  map[string]seal.Secret `json:"headers"`
		Ptr      *seal.Secret           `json:"ptr"`
	}
	s := seal.NewSecret(canary)
	b, err := json.Marshal(body{s, seal.GenerateKey(), map[string]seal.Secret{"X": s}, &s})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"password":"REDACTED","key":"REDACTED","headers":{"X":"REDACTED"},"ptr":"REDACTED"}`
	if string(b) != want {
		t.Errorf("json.Marshal: got %s, want %s", b, want)
	}
	// As a map key, a Secret marshals through MarshalText.
	b, err = json.Marshal(map[seal.Secret]int{s: 1})
	if err != nil || leaks(string(b)) {
		t.Errorf("json.Marshal with a Secret key: got %s, %v", b, err)
	}
	if text, _ := s.MarshalText(); string(text) != "REDACTED" {
		t.Errorf("MarshalText: got %q, want REDACTED", text)
	}
}

func TestRedactionErrors(t *testing.T) {
	s := seal.NewSecret(canary)
	err := fmt.Errorf("open: %w", errors.New("failed for "+s.String()))
	if leaks(err.Error()) {
		t.Errorf("error: %v", err)
	}
	if got := fmt.Sprintf("%v|%+v|%s", s.LogValue(), s.LogValue(), s.GoString()); leaks(got) || !strings.Contains(got, "REDACTED") {
		t.Errorf("LogValue/GoString: %s", got)
	}
}

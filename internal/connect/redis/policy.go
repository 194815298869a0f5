package redis

import (
	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// class is what a command may do, which decides where it may run.
type class uint8

const (
	// classUnknown is a command querygate does not know: a module's, a
	// newer Redis's, or a typo. It is treated like classAdmin: deny by
	// default.
	classUnknown class = iota
	// classRead reads data or harmless server state: allowed on every
	// datasource, read-only ones included.
	classRead
	// classWrite changes data: refused on read-only datasources.
	classWrite
	// classAdminRead is administrative but changes nothing (CONFIG GET,
	// SLOWLOG GET, read-only scripts): it needs allow_admin.
	classAdminRead
	// classAdmin is administrative or dangerous (CONFIG SET, FLUSHALL,
	// SHUTDOWN, scripts, ACL, replication, ...): it needs allow_admin and
	// is refused on read-only datasources.
	classAdmin
	// classNever would change the state of a pooled connection (AUTH,
	// HELLO, SELECT, MULTI, CLIENT REPLY, ...), take it over (SUBSCRIBE,
	// MONITOR, SYNC), or end it (QUIT, RESET): always refused, even with
	// allow_admin. The connection's user, database and protocol are the
	// gateway's, from the datasource settings.
	classNever
)

// commands classifies the commands that take no subcommand, by their name
// in upper case.
var commands = map[string]class{}

// container is a command whose first argument is a subcommand (CONFIG GET,
// CLIENT KILL, OBJECT ENCODING).
type container struct {
	subs map[string]class
	// bare is the class of the command without a subcommand (COMMAND is a
	// command of its own; CONFIG alone is an error on the server).
	bare class
	// other is the class of a subcommand missing from subs.
	other class
}

// containers classifies commands with subcommands, by their name in upper
// case.
var containers = map[string]container{
	"ACL": {other: classAdmin, subs: subs(classAdminRead, "WHOAMI", "CAT", "GENPASS", "LIST", "USERS", "GETUSER", "DRYRUN").
		// ACL LOG RESET clears the log.
		add(classAdmin, "LOG", "SETUSER", "DELUSER", "LOAD", "SAVE")},
	"CLIENT": {other: classNever, subs: subs(classRead, "ID", "INFO", "GETNAME", "TRACKINGINFO", "GETREDIR").
		add(classAdminRead, "LIST").
		add(classAdmin, "KILL", "PAUSE", "UNPAUSE", "UNBLOCK").
		// These change the pooled connection itself.
		add(classNever, "SETNAME", "SETINFO", "REPLY", "TRACKING", "CACHING", "NO-EVICT", "NO-TOUCH")},
	"CLUSTER": {other: classAdmin, subs: subs(classAdminRead, "INFO", "NODES", "SLOTS", "SHARDS", "MYID", "MYSHARDID",
		"KEYSLOT", "COUNTKEYSINSLOT", "GETKEYSINSLOT", "LINKS", "REPLICAS", "SLAVES", "COUNT-FAILURE-REPORTS")},
	"COMMAND": {bare: classRead, other: classUnknown, subs: subs(classRead, "COUNT", "DOCS", "INFO", "LIST", "GETKEYS", "GETKEYSANDFLAGS")},
	"CONFIG":  {other: classAdmin, subs: subs(classAdminRead, "GET").add(classAdmin, "SET", "REWRITE", "RESETSTAT")},
	"FUNCTION": {other: classAdmin, subs: subs(classAdminRead, "LIST", "DUMP", "STATS").
		add(classAdmin, "LOAD", "DELETE", "FLUSH", "RESTORE", "KILL")},
	"LATENCY": {other: classAdmin, subs: subs(classAdminRead, "DOCTOR", "GRAPH", "HISTORY", "LATEST", "HISTOGRAM").add(classAdmin, "RESET")},
	"MEMORY": {other: classAdmin, subs: subs(classRead, "USAGE").add(classAdminRead, "STATS", "DOCTOR", "MALLOC-STATS").
		add(classAdmin, "PURGE")},
	"MODULE":  {other: classAdmin, subs: subs(classAdminRead, "LIST").add(classAdmin, "LOAD", "LOADEX", "UNLOAD")},
	"OBJECT":  {other: classUnknown, subs: subs(classRead, "ENCODING", "FREQ", "IDLETIME", "REFCOUNT")},
	"PUBSUB":  {other: classUnknown, subs: subs(classRead, "CHANNELS", "NUMSUB", "NUMPAT", "SHARDCHANNELS", "SHARDNUMSUB")},
	"SCRIPT":  {other: classAdmin, subs: subs(classAdminRead, "EXISTS").add(classAdmin, "LOAD", "FLUSH", "KILL").add(classNever, "DEBUG")},
	"SLOWLOG": {other: classAdmin, subs: subs(classAdminRead, "GET", "LEN").add(classAdmin, "RESET")},
	"XGROUP":  {other: classUnknown, subs: subs(classWrite, "CREATE", "DESTROY", "SETID", "CREATECONSUMER", "DELCONSUMER")},
	"XINFO":   {other: classUnknown, subs: subs(classRead, "STREAM", "GROUPS", "CONSUMERS")},
}

func init() {
	add := func(c class, names ...string) {
		for _, n := range names {
			commands[n] = c
		}
	}
	add(classRead,
		// keys and strings
		"GET", "MGET", "STRLEN", "GETRANGE", "SUBSTR", "LCS", "EXISTS", "TYPE", "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME",
		"SCAN", "KEYS", "RANDOMKEY", "DUMP", "DBSIZE",
		// hashes
		"HGET", "HMGET", "HGETALL", "HKEYS", "HVALS", "HLEN", "HEXISTS", "HSCAN", "HSTRLEN", "HRANDFIELD",
		"HTTL", "HPTTL", "HEXPIRETIME", "HPEXPIRETIME",
		// lists
		"LRANGE", "LLEN", "LINDEX", "LPOS",
		// sets
		"SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD", "SSCAN", "SRANDMEMBER", "SINTER", "SUNION", "SDIFF", "SINTERCARD",
		// sorted sets
		"ZRANGE", "ZRANGEBYSCORE", "ZREVRANGE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZSCORE", "ZMSCORE",
		"ZCARD", "ZCOUNT", "ZRANK", "ZREVRANK", "ZSCAN", "ZLEXCOUNT", "ZRANDMEMBER", "ZDIFF", "ZINTER", "ZUNION", "ZINTERCARD",
		// streams (XREAD may block: the query's context ends it)
		"XRANGE", "XREVRANGE", "XLEN", "XREAD", "XPENDING",
		// geo, HyperLogLog, bitmaps
		"GEOPOS", "GEODIST", "GEOSEARCH", "GEOHASH", "GEORADIUS_RO", "GEORADIUSBYMEMBER_RO",
		"PFCOUNT", "BITCOUNT", "BITPOS", "GETBIT", "BITFIELD_RO", "SORT_RO",
		// server
		"PING", "ECHO", "TIME", "INFO", "LOLWUT")
	add(classWrite,
		"SET", "SETNX", "SETEX", "PSETEX", "MSET", "MSETNX", "APPEND", "SETRANGE", "INCR", "INCRBY", "INCRBYFLOAT",
		"DECR", "DECRBY", "GETSET", "GETDEL", "GETEX", "DEL", "UNLINK", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT",
		"PERSIST", "RENAME", "RENAMENX", "COPY", "MOVE",
		// TOUCH is a read for Redis, but it changes what eviction sees.
		"TOUCH",
		"HSET", "HSETNX", "HMSET", "HDEL", "HINCRBY", "HINCRBYFLOAT", "HEXPIRE", "HPEXPIRE", "HEXPIREAT", "HPEXPIREAT",
		"HPERSIST", "HGETDEL", "HGETEX", "HSETEX",
		"LPUSH", "RPUSH", "LPUSHX", "RPUSHX", "LPOP", "RPOP", "LSET", "LINSERT", "LREM", "LTRIM", "LMOVE", "RPOPLPUSH",
		"LMPOP", "BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP",
		"SADD", "SREM", "SPOP", "SMOVE", "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE",
		"ZADD", "ZINCRBY", "ZREM", "ZREMRANGEBYSCORE", "ZREMRANGEBYRANK", "ZREMRANGEBYLEX", "ZPOPMIN", "ZPOPMAX",
		"BZPOPMIN", "BZPOPMAX", "ZMPOP", "BZMPOP", "ZRANGESTORE", "ZINTERSTORE", "ZUNIONSTORE", "ZDIFFSTORE",
		"XADD", "XDEL", "XTRIM", "XACK", "XCLAIM", "XAUTOCLAIM", "XSETID", "XREADGROUP",
		// GEORADIUS and SORT can STORE their result.
		"GEOADD", "GEORADIUS", "GEORADIUSBYMEMBER", "GEOSEARCHSTORE", "PFADD", "PFMERGE",
		"SETBIT", "BITOP", "BITFIELD", "SORT",
		"PUBLISH", "SPUBLISH")
	add(classAdminRead,
		// Read-only scripts still run code on the server.
		"EVAL_RO", "EVALSHA_RO", "FCALL_RO",
		"LASTSAVE", "ROLE", "WAIT", "WAITAOF")
	add(classAdmin,
		"FLUSHALL", "FLUSHDB", "SWAPDB", "SHUTDOWN", "DEBUG", "EVAL", "EVALSHA", "FCALL",
		"MIGRATE", "RESTORE", "RESTORE-ASKING", "REPLICAOF", "SLAVEOF", "FAILOVER",
		"SAVE", "BGSAVE", "BGREWRITEAOF", "PFDEBUG", "PFSELFTEST")
	add(classNever,
		// credentials, database and protocol are the datasource's
		"AUTH", "HELLO", "SELECT",
		// a transaction or a watch would stay on the pooled connection
		"MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH",
		// these take the connection over
		"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR",
		"SYNC", "PSYNC", "REPLCONF",
		// these end or reset it (RESET would also log it in as the default user)
		"QUIT", "RESET",
		// cluster connection modes
		"READONLY", "READWRITE", "ASKING")
	for _, c := range containers {
		// HELP changes nothing anywhere.
		c.subs["HELP"] = classRead
	}
}

// classes maps names to classes, for the table above.
type classes map[string]class

func subs(c class, names ...string) classes { return classes{}.add(c, names...) }

func (m classes) add(c class, names ...string) classes {
	for _, n := range names {
		m[n] = c
	}
	return m
}

// classify returns the class of the command args and its name as the
// table spells it ("CONFIG GET", "CLIENT", "GET"), or "" for a command
// querygate does not know. Names are compared without regard to ASCII
// case, as Redis does; a name with any other byte is unknown.
func classify(args []string) (string, class) {
	if len(args) == 0 {
		return "", classUnknown
	}
	name, ok := upper(args[0])
	if !ok {
		return "", classUnknown
	}
	if c, ok := commands[name]; ok {
		return name, c
	}
	ct, ok := containers[name]
	if !ok {
		return "", classUnknown
	}
	if len(args) < 2 {
		return name, ct.bare
	}
	sub, ok := upper(args[1])
	if !ok {
		return name, ct.other
	}
	if c, ok := ct.subs[sub]; ok {
		return name + " " + sub, c
	}
	return name, ct.other
}

// upper returns s in ASCII upper case, and false if s is empty, too long
// to be a command name, or holds a byte that no command name has.
func upper(s string) (string, bool) {
	if s == "" || len(s) > 64 {
		return "", false
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - ('a' - 'A')
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return "", false
		}
	}
	return string(b), true
}

// policy is what a datasource allows.
type policy struct {
	readOnly   bool // only classRead (and classAdminRead with allowAdmin)
	allowAdmin bool // classAdminRead and classAdmin
}

// check refuses args, before anything is sent, when the policy does not
// allow its command. Messages name a command only as the table spells it,
// never with the caller's text.
func (p policy) check(args []string) error {
	if len(args) == 0 {
		return querygate.FieldErrorf("command", "command: a Redis datasource runs a command such as [\"GET\", \"key\"]")
	}
	name, c := classify(args)
	switch c {
	case classNever:
		return querygate.Errorf(querygate.EFORBIDDEN,
			"The command %s is never run through the gateway: the connection's user, database and state are the datasource's, and connections are shared.", name)
	case classUnknown:
		if !p.allowAdmin {
			return querygate.Errorf(querygate.EFORBIDDEN,
				"This command is not one the gateway knows; unknown commands (of modules or newer Redis versions) count as administrative and need the datasource setting allow_admin.")
		}
		if p.readOnly {
			return connect.Errorf(connect.EREADONLY, "This datasource is read-only: only read commands are allowed, and this command is not one the gateway knows as a read.")
		}
	case classAdmin, classAdminRead:
		if !p.allowAdmin {
			return querygate.Errorf(querygate.EFORBIDDEN,
				"The command %s is refused on this datasource: administrative commands need the datasource setting allow_admin.", name)
		}
		if p.readOnly && c == classAdmin {
			return connect.Errorf(connect.EREADONLY, "This datasource is read-only: the command %s may change the server.", name)
		}
	case classWrite:
		if p.readOnly {
			return connect.Errorf(connect.EREADONLY, "This datasource is read-only: the command %s changes data.", name)
		}
	}
	return nil
}

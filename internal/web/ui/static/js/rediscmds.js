// Completion of Redis commands for the workspace's command line, with no
// editor behind it (node's test runner loads it).

/** COMMANDS are the common Redis commands, with their arguments. */
export const COMMANDS = [
  ['GET', 'key'], ['SET', 'key value [EX seconds]'], ['MGET', 'key [key …]'], ['DEL', 'key [key …]'], ['EXISTS', 'key [key …]'],
  ['TYPE', 'key'], ['TTL', 'key'], ['PTTL', 'key'], ['EXPIRE', 'key seconds'], ['PERSIST', 'key'], ['KEYS', 'pattern'],
  ['SCAN', 'cursor [MATCH pattern] [COUNT n] [TYPE type]'], ['STRLEN', 'key'], ['GETRANGE', 'key start end'],
  ['INCR', 'key'], ['INCRBY', 'key n'], ['DECR', 'key'], ['APPEND', 'key value'],
  ['HGET', 'key field'], ['HGETALL', 'key'], ['HMGET', 'key field [field …]'], ['HKEYS', 'key'], ['HVALS', 'key'], ['HLEN', 'key'],
  ['HSET', 'key field value [field value …]'], ['HSCAN', 'key cursor [MATCH pattern] [COUNT n]'], ['HEXISTS', 'key field'],
  ['LRANGE', 'key start stop'], ['LLEN', 'key'], ['LINDEX', 'key index'], ['LPUSH', 'key value [value …]'], ['RPUSH', 'key value [value …]'],
  ['SMEMBERS', 'key'], ['SCARD', 'key'], ['SISMEMBER', 'key member'], ['SSCAN', 'key cursor [MATCH pattern] [COUNT n]'], ['SADD', 'key member [member …]'],
  ['ZRANGE', 'key start stop [WITHSCORES]'], ['ZREVRANGE', 'key start stop [WITHSCORES]'], ['ZRANGEBYSCORE', 'key min max [WITHSCORES]'],
  ['ZCARD', 'key'], ['ZSCORE', 'key member'], ['ZSCAN', 'key cursor [MATCH pattern] [COUNT n]'], ['ZADD', 'key score member [score member …]'],
  ['XRANGE', 'key start end [COUNT n]'], ['XREVRANGE', 'key end start [COUNT n]'], ['XLEN', 'key'], ['XINFO', 'STREAM key'],
  ['PFCOUNT', 'key [key …]'], ['GEOPOS', 'key member [member …]'], ['BITCOUNT', 'key [start end]'],
  ['DBSIZE', ''], ['INFO', '[section]'], ['PING', ''], ['MEMORY', 'USAGE key'], ['OBJECT', 'ENCODING key'], ['JSON.GET', 'key [path …]'],
];

/**
 * completeCommand returns the commands that fit the first word of line at
 * pos, as {from, options}, or null past the first word.
 */
export function completeCommand(line, pos) {
  const before = line.slice(0, pos);
  const m = /^\s*([A-Za-z.]*)$/.exec(before);
  if (!m) return null;
  return {
    from: pos - m[1].length,
    options: COMMANDS.map(([name, args]) => ({ label: name, detail: args, type: 'keyword', apply: name + ' ' })),
  };
}

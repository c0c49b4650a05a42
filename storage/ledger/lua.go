package ledger

import "github.com/redis/go-redis/v9"

// The ledger's state changes, one Lua script each, so that a change and its ledger event are one
// atomic step on Redis. Conventions shared by every script:
//
//   - KEYS[1] is the ledger stream, KEYS[2] the invoice or balance the change is about; every key
//     carries the {ledger} hash tag, so a script never spans Cluster slots (storage/keys.go).
//   - ARGV[1] is the caller's clock in Unix milliseconds (leases, expiry, event times).
//   - The reply is {code} or {code, payload}: "ok" or one of the codes errFromCode maps to an
//     error. Invoice payloads are the invoice hash as HGETALL returns it, read after the change.
//   - Money never goes through Lua numbers: amounts are opaque strings and credits change only by
//     HINCRBY, so no value is rounded.
//
// Invoice hash fields: id, doc (the frozen Invoice as JSON), status (pending|submitted|confirmed|
// inuse|consumed), route, partner, wallet, batch, expires (ms), amount, asset, tx, settled
// (RFC 3339), error, token, lease (ms). "inuse" is confirmed with a running paid request.

// ledgerPrelude holds the helpers every script starts with.
const ledgerPrelude = `
local now = tonumber(ARGV[1])
local event_fields = {'invoice', 'tx', 'partner', 'wallet', 'route', 'amount', 'asset', 'credits', 'ref', 'reason'}

-- emit appends one money event to the ledger stream.
local function emit(kind, f)
  local args = {'XADD', KEYS[1], '*', 'type', kind, 'at', ARGV[1]}
  for _, k in ipairs(event_fields) do
    local v = f[k]
    if v and v ~= '' then
      args[#args + 1] = k
      args[#args + 1] = tostring(v)
    end
  end
  redis.call(unpack(args))
end

-- about is the facts of an invoice that every event about it carries, plus extra.
local function about(inv, extra)
  local v = redis.call('HMGET', inv, 'id', 'partner', 'wallet', 'route', 'amount', 'asset')
  local f = {invoice = v[1], partner = v[2], wallet = v[3], route = v[4], amount = v[5], asset = v[6]}
  for k, x in pairs(extra) do f[k] = x end
  return f
end

local function reply(code, inv)
  return {code, redis.call('HGETALL', inv)}
end

local function paid(status)
  return status == 'confirmed' or status == 'inuse' or status == 'consumed'
end

-- giveback ends a reservation: inuse -> confirmed, a batch invoice's credit goes back (the only
-- money that moves, so the only event).
local function giveback(inv, bal, batch, reason)
  redis.call('HSET', inv, 'status', 'confirmed', 'token', '', 'lease', '0')
  if batch then
    redis.call('HINCRBY', bal, 'credits', 1)
    redis.call('HSET', bal, 'updated', ARGV[1])
    emit('refunded', about(inv, {reason = reason, credits = '1'}))
  end
end
`

func ledgerScript(body string) *redis.Script { return redis.NewScript(ledgerPrelude + body) }

// luaOpen stores a new invoice, or returns the pending one of the same request. No event: an
// unpaid invoice is no money, and it expires (ARGV[3]) a grace after its payment window.
//
// KEYS[2] new invoice; KEYS[3] the amounts taken at its (payTo, asset); KEYS[4] request index
// (optional); KEYS[5] the invoice the index named when the caller looked (optional). ARGV[2] that
// invoice's id ("" none); ARGV[3] invoice TTL ms; ARGV[4] index TTL ms; ARGV[5] how many unique
// amounts to choose from (0: the amount as given); ARGV[6] the offset to start at (0-based);
// ARGV[7] when the amount is free again (ms); ARGV[8] the amount before its offset; ARGV[9] most
// amounts to try; ARGV[10..] the invoice's field/value pairs. "retry" means the index moved since
// the caller looked; "amounts" that no amount of the range is free.
var luaOpen = ledgerScript(`
-- plus adds a small whole number to a decimal string, digit by digit: amounts never become Lua
-- numbers (doubles), so none is rounded.
local function plus(s, k)
  local digits, carry = {}, k
  for i = #s, 1, -1 do
    local d = string.byte(s, i) - 48 + carry
    digits[#digits + 1] = d % 10
    carry = (d - d % 10) / 10
  end
  while carry > 0 do
    digits[#digits + 1] = carry % 10
    carry = (carry - carry % 10) / 10
  end
  local out = {}
  for i = #digits, 1, -1 do out[#out + 1] = string.char(48 + digits[i]) end
  return table.concat(out)
end

if #KEYS >= 4 then
  local cur = redis.call('GET', KEYS[4]) or ''
  if cur ~= ARGV[2] then return {'retry'} end
  if #KEYS >= 5 then
    local st = redis.call('HMGET', KEYS[5], 'status', 'expires')
    if st[1] == 'pending' and now < tonumber(st[2]) then return reply('reused', KEYS[5]) end
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'exists'} end
local amount = ARGV[8]
local n = tonumber(ARGV[5])
if n > 0 then
  amount = nil
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
  for i = 0, math.min(n, tonumber(ARGV[9])) - 1 do
    local a = plus(ARGV[8], (tonumber(ARGV[6]) + i) % n + 1)
    if not redis.call('ZSCORE', KEYS[3], a) then
      amount = a
      break
    end
  end
  if not amount then return {'amounts'} end
  redis.call('ZADD', KEYS[3], ARGV[7], amount)
  local ttl = tonumber(ARGV[7]) - now
  if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
end
redis.call('HSET', KEYS[2], unpack(ARGV, 10))
redis.call('HSET', KEYS[2], 'amount', amount)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if #KEYS >= 4 then
  redis.call('SET', KEYS[4], redis.call('HGET', KEYS[2], 'id'), 'PX', ARGV[4])
end
return reply('ok', KEYS[2])
`)

// luaPayPrelude claims the tx for the invoice (shared by Submitted and Confirm).
//
// KEYS[2] invoice; KEYS[3] the tx's claim; ARGV[2] tx hash. Leaves st (status, tx, id, batch,
// partner, wallet) and owner (the claim before this call) for the body, or returns early: "ok" when
// the invoice is paid with this tx already (idempotent), "paid" when with another one.
const luaPayPrelude = `
local st = redis.call('HMGET', KEYS[2], 'status', 'tx', 'id', 'batch', 'partner', 'wallet')
if not st[1] then return {'not_found'} end
if paid(st[1]) then
  if st[2] == ARGV[2] then return reply('ok', KEYS[2]) end
  return {'paid'}
end
if st[1] ~= 'pending' and st[1] ~= 'submitted' then return {'bad_state', st[1]} end
local owner = redis.call('GET', KEYS[3])
if owner and owner ~= st[3] then return {'tx_used'} end
local function claim()
  if not owner then
    redis.call('SET', KEYS[3], st[3])
    emit('tx_claimed', about(KEYS[2], {tx = ARGV[2]}))
  end
end
`

// luaSubmitted: pending|submitted -> submitted with the tx claimed (the claim's event is the only
// one: no money is in yet). The record is kept ARGV[3] ms, not just the unpaid grace: the
// transaction we submitted may land later and must find its invoice. ARGV[2] tx hash.
var luaSubmitted = ledgerScript(luaPayPrelude + `
if st[1] == 'submitted' and st[2] == ARGV[2] then return reply('ok', KEYS[2]) end
claim()
redis.call('HSET', KEYS[2], 'status', 'submitted', 'tx', ARGV[2])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return reply('ok', KEYS[2])
`)

// luaConfirm: pending|submitted -> confirmed with the tx claimed; a batch invoice credits its
// balance. KEYS[4] the invoice's balance; ARGV[2] tx hash; ARGV[3] settled time (RFC 3339);
// ARGV[4], ARGV[5] the partner and wallet KEYS[4] was built from; ARGV[6] the payer's credential
// ("" when unknown).
//
// A paid invoice loses its time to live: it is the caller's money until the paid call runs.
var luaConfirm = ledgerScript(luaPayPrelude + `
if st[5] ~= ARGV[4] or st[6] ~= ARGV[5] then return {'mismatch'} end
claim()
redis.call('HSET', KEYS[2], 'status', 'confirmed', 'tx', ARGV[2], 'settled', ARGV[3])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[2], 'payer', ARGV[6]) end
redis.call('PERSIST', KEYS[2])
emit('confirmed', about(KEYS[2], {tx = ARGV[2]}))
if tonumber(st[4]) > 0 then
  redis.call('HINCRBY', KEYS[4], 'credits', st[4])
  redis.call('HSET', KEYS[4], 'partner', ARGV[4], 'wallet', ARGV[5], 'updated', ARGV[1])
  emit('credited', about(KEYS[2], {tx = ARGV[2], credits = st[4]}))
end
return reply('ok', KEYS[2])
`)

// luaRecordError stores the last verification error code. ARGV[2] the code.
var luaRecordError = ledgerScript(`
if redis.call('EXISTS', KEYS[2]) == 0 then return {'not_found'} end
redis.call('HSET', KEYS[2], 'error', ARGV[2])
return {'ok'}
`)

// luaReserve: confirmed -> inuse under a new token and lease; a batch invoice spends one credit of
// its balance (event "spent"; a plain reservation moves no money and has none). An inuse invoice
// whose lease ran out is given back first (its holder crashed).
//
// KEYS[3] the invoice's balance; ARGV[2] route; ARGV[3] token; ARGV[4] lease end (ms); ARGV[5],
// ARGV[6] the partner and wallet KEYS[3] was built from.
var luaReserve = ledgerScript(`
local st = redis.call('HMGET', KEYS[2], 'status', 'route', 'expires', 'batch', 'lease', 'partner', 'wallet')
if not st[1] then return {'not_found'} end
if st[2] ~= ARGV[2] then return {'route'} end
local status = st[1]
if status == 'consumed' then return {'consumed'} end
if status == 'pending' and now >= tonumber(st[3]) then return {'expired'} end
if status == 'pending' or status == 'submitted' then return {'not_confirmed'} end
if st[6] ~= ARGV[5] or st[7] ~= ARGV[6] then return {'mismatch'} end
local batch = tonumber(st[4]) > 0
if status == 'inuse' then
  if now < tonumber(st[5]) then return {'busy'} end
  giveback(KEYS[2], KEYS[3], batch, 'lease_expired')
  status = 'confirmed'
end
if status ~= 'confirmed' then return {'bad_state', status} end
if batch then
  if tonumber(redis.call('HGET', KEYS[3], 'credits') or '0') <= 0 then return {'no_credits'} end
  redis.call('HINCRBY', KEYS[3], 'credits', -1)
  redis.call('HSET', KEYS[3], 'updated', ARGV[1])
  emit('spent', about(KEYS[2], {credits = '-1'}))
end
redis.call('HSET', KEYS[2], 'status', 'inuse', 'token', ARGV[3], 'lease', ARGV[4])
return reply('ok', KEYS[2])
`)

// luaHolderPrelude checks that ARGV[2] is the token of the running reservation.
const luaHolderPrelude = `
local st = redis.call('HMGET', KEYS[2], 'status', 'token', 'batch', 'partner', 'wallet')
if not st[1] then return {'not_found'} end
if st[1] == 'consumed' then return {'consumed'} end
if st[1] == 'pending' or st[1] == 'submitted' then return {'not_confirmed'} end
if st[1] ~= 'inuse' or st[2] ~= ARGV[2] then return {'lease_lost'} end
`

// luaConsume: inuse (this token) -> consumed; the record then expires after ARGV[3] ms.
var luaConsume = ledgerScript(luaHolderPrelude + `
redis.call('HSET', KEYS[2], 'status', 'consumed', 'token', '', 'lease', '0')
redis.call('PEXPIRE', KEYS[2], ARGV[3])
emit('consumed', about(KEYS[2], {}))
return {'ok'}
`)

// luaRelease: inuse (this token) -> confirmed, a batch invoice's credit back to KEYS[3].
// ARGV[3], ARGV[4] the partner and wallet KEYS[3] was built from; ARGV[5] why the call was not
// delivered ("" keeps the recorded error).
var luaRelease = ledgerScript(luaHolderPrelude + `
if st[4] ~= ARGV[3] or st[5] ~= ARGV[4] then return {'mismatch'} end
giveback(KEYS[2], KEYS[3], tonumber(st[3]) > 0, ARGV[5])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[2], 'error', ARGV[5]) end
return {'ok'}
`)

// luaDebit takes one credit of the balance KEYS[2] for ref, recorded in KEYS[3] (a ref is
// single-use). ARGV[2] partner; ARGV[3] wallet; ARGV[4] ref; ARGV[5] record TTL ms.
// Replies {code, credits left}.
var luaDebit = ledgerScript(`
if redis.call('EXISTS', KEYS[3]) == 1 then return {'ref_used', 0} end
local credits = tonumber(redis.call('HGET', KEYS[2], 'credits') or '0')
if credits <= 0 then return {'no_credits', 0} end
local left = redis.call('HINCRBY', KEYS[2], 'credits', -1)
redis.call('HSET', KEYS[2], 'partner', ARGV[2], 'wallet', ARGV[3], 'updated', ARGV[1])
redis.call('SET', KEYS[3], 'debited', 'PX', ARGV[5])
emit('debited', {partner = ARGV[2], wallet = ARGV[3], credits = '-1', ref = ARGV[4]})
return {'ok', left}
`)

// luaRefund gives back the credit ref debited from KEYS[2], once. Same ARGV as luaDebit.
var luaRefund = ledgerScript(`
local rec = redis.call('GET', KEYS[3])
if not rec then return {'no_debit'} end
if rec == 'refunded' then return {'ok'} end
redis.call('SET', KEYS[3], 'refunded', 'KEEPTTL')
redis.call('HINCRBY', KEYS[2], 'credits', 1)
redis.call('HSET', KEYS[2], 'updated', ARGV[1])
emit('refunded', {partner = ARGV[2], wallet = ARGV[3], credits = '1', ref = ARGV[4]})
return {'ok'}
`)

//! Redis limits shared by every gateway node: each check is one Lua script, so one round trip
//! and atomic. Time comes from the Redis server (`TIME`), never from the nodes, so clock skew
//! between nodes cannot stretch a limit.
//!
//! Rate state is one string per key (the GCRA TAT in µs) that expires when the allowance is
//! whole again. Concurrency is a sorted set of lease ids scored by expiry (ms); expired leases
//! are pruned inside the same script that counts them, so a dead node's slots come back once
//! its leases run out. The connection is made lazily and re-made after failures, so the
//! gateway starts and degrades (per `ODEADEV_LIMITS_ON_REDIS_ERROR`) while Redis is down.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;

use super::{Admission, LimitBackend, LimitError};
use crate::domain::rate::{Rate, RateDecision, Spend};

/// The GCRA step of `domain::rate::gcra` in Lua. Numbers are formatted with `%.0f`: Lua's
/// default formatting would round µs timestamps.
const GCRA_LUA: &str = r#"
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function gcra(key, now, t, burst, charge)
  local window = t * burst
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + t
  local allow_at = new_tat - window
  if now < allow_at then
    return {0, 0, tat - now, math.max(allow_at - now, 1), tat}
  end
  local after = tat
  if charge then after = new_tat end
  return {1, math.floor((now + window - after) / t), after - now, 0, tat}
end
local function store(key, now, tat)
  redis.call('SET', key, string.format('%.0f', tat), 'PX', string.format('%.0f', math.ceil((tat - now) / 1000)))
end
"#;

/// KEYS: rate key. ARGV: emission µs, burst, charge (1/0).
/// Returns {allowed, remaining, reset µs, retry µs}.
const RATE_LUA: &str = r#"
local now = now_us()
local t, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local d = gcra(KEYS[1], now, t, burst, ARGV[3] == '1')
if d[1] == 1 and ARGV[3] == '1' then store(KEYS[1], now, d[5] + t) end
return {d[1], d[2], d[3], d[4]}
"#;

/// KEYS: rate key, slots key. ARGV: emission µs, burst, max slots, lease ms, lease id.
/// Returns {outcome (1 admitted, 0 rate limited, 2 busy), remaining, reset µs, retry µs, held}.
const ADMIT_LUA: &str = r#"
local now = now_us()
local t, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_slots, lease_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local d = gcra(KEYS[1], now, t, burst, true)
if d[1] == 0 then return {0, d[2], d[3], d[4], 0} end
local now_ms = math.floor(now / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now_ms))
local held = redis.call('ZCARD', KEYS[2])
if held >= max_slots then return {2, d[2] + 1, d[3] - t, 0, held} end
store(KEYS[1], now, d[5] + t)
redis.call('ZADD', KEYS[2], string.format('%.0f', now_ms + lease_ms), ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {1, d[2], d[3], 0, held + 1}
"#;

/// KEYS: slots key. ARGV: lease ms, lease id. Returns 1 if the lease was still held.
const RENEW_LUA: &str = r#"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], string.format('%.0f', now_ms + tonumber(ARGV[1])), ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
"#;

/// The Redis backend.
pub struct RedisLimits {
    connection: ConnectionManager,
    rate: Script,
    admit: Script,
    renew: Script,
}

impl RedisLimits {
    /// A backend for `url` (not yet connected: the first check connects). `timeout` bounds
    /// connecting and each response; callers bound every call as a whole as well.
    pub fn new(url: &str, timeout: Duration) -> Result<RedisLimits, LimitError> {
        let client = redis::Client::open(url).map_err(|e| LimitError(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| LimitError(e.to_string()))?;
        Ok(RedisLimits {
            connection,
            rate: Script::new(&format!("{GCRA_LUA}{RATE_LUA}")),
            admit: Script::new(&format!("{GCRA_LUA}{ADMIT_LUA}")),
            renew: Script::new(RENEW_LUA),
        })
    }
}

fn failed(e: redis::RedisError) -> LimitError {
    LimitError(e.to_string())
}

fn decision(rate: Rate, reply: &[i64]) -> Result<RateDecision, LimitError> {
    let [allowed, remaining, reset, retry, ..] = reply else {
        return Err(LimitError(format!("unexpected script reply {reply:?}")));
    };
    Ok(RateDecision {
        allowed: *allowed == 1,
        limit: rate.limit(),
        remaining: u32::try_from(*remaining).unwrap_or(0),
        reset_us: u64::try_from(*reset).unwrap_or(0),
        retry_after_us: u64::try_from(*retry).unwrap_or(0),
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl LimitBackend for RedisLimits {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn leases_expire(&self) -> bool {
        true
    }

    async fn check_rate(
        &self,
        key: &str,
        rate: Rate,
        spend: Spend,
    ) -> Result<RateDecision, LimitError> {
        let reply: Vec<i64> = self
            .rate
            .key(key)
            .arg(rate.emission_us())
            .arg(rate.burst())
            .arg(u8::from(spend == Spend::Charge))
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(failed)?;
        decision(rate, &reply)
    }

    async fn admit(
        &self,
        rate_key: &str,
        slots_key: &str,
        rate: Rate,
        max_slots: u32,
        lease_id: &str,
        lease: Duration,
    ) -> Result<Admission, LimitError> {
        let reply: Vec<i64> = self
            .admit
            .key(rate_key)
            .key(slots_key)
            .arg(rate.emission_us())
            .arg(rate.burst())
            .arg(max_slots)
            .arg(millis(lease))
            .arg(lease_id)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(failed)?;
        let held = reply.get(4).copied().unwrap_or(0);
        let mut rate_state = decision(rate, &reply)?;
        Ok(match reply.first() {
            Some(1) => Admission::Admitted(rate_state),
            Some(2) => {
                rate_state.allowed = true;
                Admission::Busy {
                    rate: rate_state,
                    in_flight: u32::try_from(held).unwrap_or(u32::MAX),
                }
            }
            _ => Admission::RateLimited(rate_state),
        })
    }

    async fn renew(
        &self,
        slots_key: &str,
        lease_id: &str,
        lease: Duration,
    ) -> Result<bool, LimitError> {
        let held: i64 = self
            .renew
            .key(slots_key)
            .arg(millis(lease))
            .arg(lease_id)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(failed)?;
        Ok(held == 1)
    }

    async fn ping(&self) -> Result<(), LimitError> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.connection.clone())
            .await
            .map_err(failed)?;
        Ok(())
    }

    async fn release(&self, slots_key: &str, lease_id: &str) -> Result<(), LimitError> {
        redis::cmd("ZREM")
            .arg(slots_key)
            .arg(lease_id)
            .query_async::<i64>(&mut self.connection.clone())
            .await
            .map_err(failed)?;
        Ok(())
    }
}

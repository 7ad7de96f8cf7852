//! Billing plans and what each one allows.

use serde::{Deserialize, Serialize};

/// A billing plan. Admin is a role, never a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// 600 s per cycle, 10 rpm, 1 stream.
    Free,
    /// 3,600 s per cycle, 30 rpm, 2 streams.
    Basic,
    /// 14,400 s per cycle, 60 rpm, 5 streams.
    Pro,
    /// 36,000 s per cycle (customisable), 120 rpm, 10 streams.
    Enterprise,
}

/// What a plan grants by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    /// Audio milliseconds per billing cycle.
    pub quota_ms: i64,
    /// Synthesis requests per minute.
    pub rpm: u32,
    /// Synthesis requests in flight at once.
    pub max_streams: u32,
}

impl Plan {
    /// Every plan, cheapest first.
    pub const ALL: [Plan; 4] = [Plan::Free, Plan::Basic, Plan::Pro, Plan::Enterprise];

    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Basic => "basic",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    /// Parses the stored name.
    pub fn parse(value: &str) -> Option<Plan> {
        Plan::ALL.into_iter().find(|p| p.as_str() == value)
    }

    /// The plan's default limits.
    pub fn limits(self) -> PlanLimits {
        let (quota_s, rpm, max_streams) = match self {
            Plan::Free => (600, 10, 1),
            Plan::Basic => (3_600, 30, 2),
            Plan::Pro => (14_400, 60, 5),
            Plan::Enterprise => (36_000, 120, 10),
        };
        PlanLimits {
            quota_ms: quota_s * 1000,
            rpm,
            max_streams,
        }
    }
}

/// What a user may do beyond their plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A customer.
    User,
    /// May use the admin API.
    Admin,
}

impl Role {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// Parses the stored name.
    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

//! The permission ladder.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a token allows, ordered `Read < Write < Sign < Admin`; each level
/// includes the ones below it. Serialized as Lotus writes it: `"read"`,
/// `"write"`, `"sign"`, `"admin"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Query state.
    Read,
    /// Change state.
    Write,
    /// Sign with the node's keys.
    Sign,
    /// Everything, operator commands included.
    Admin,
}

impl Permission {
    /// The ladder from the lowest level up.
    pub const ALL: [Permission; 4] = [
        Permission::Read,
        Permission::Write,
        Permission::Sign,
        Permission::Admin,
    ];

    /// The lowercase name Lotus uses.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Sign => "sign",
            Permission::Admin => "admin",
        }
    }

    /// Every level this one includes, itself last: what a token made for it
    /// lists in `Allow` (as `lotus auth create-token --perm` does).
    pub fn ladder(self) -> &'static [Permission] {
        let top = Self::ALL.iter().position(|p| *p == self).unwrap_or(3);
        &Self::ALL[..=top]
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a permission.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {0:?}: expected read, write, sign or admin")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownPermission(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_and_named() {
        assert!(Permission::Read < Permission::Write);
        assert!(Permission::Write < Permission::Sign);
        assert!(Permission::Sign < Permission::Admin);
        for p in Permission::ALL {
            assert_eq!(p.name().parse::<Permission>().unwrap(), p);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        assert_eq!(Permission::Admin.ladder(), &Permission::ALL);
        assert_eq!(Permission::Read.ladder(), &[Permission::Read]);
        assert!("root".parse::<Permission>().is_err());
    }
}

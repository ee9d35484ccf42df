//! Who may see and do what (docs/access.md).
//!
//! Users belong to accounts with a [`Role`] and take part in projects, with or without billing
//! permission. Owners and billing admins see every project of their account and its costs; a
//! member sees the projects it takes part in, and their costs only where it has billing permission.

use std::fmt;
use std::str::FromStr;

use crate::error::DomainError;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Role {
    Owner,
    BillingAdmin,
    Member,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::BillingAdmin, Role::Member];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::BillingAdmin => "billing_admin",
            Role::Member => "member",
        }
    }

    /// Owners and billing admins manage the account's billing: payment methods, credit and
    /// promotion codes, invoices and payments.
    pub fn manages_billing(&self) -> bool {
        matches!(self, Role::Owner | Role::BillingAdmin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(DomainError::UnknownRole)
    }
}

/// A token may be limited to one account; it reaches no other, whatever its user's memberships.
pub fn token_reaches<A: PartialEq>(token_limit: Option<&A>, account: &A) -> bool {
    token_limit.is_none_or(|only| only == account)
}

/// Owners and billing admins see every project of the account; members only theirs.
pub fn sees_all_projects(role: Role) -> bool {
    role.manages_billing()
}

/// A user's part in one project.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Participation {
    pub billing_permission: bool,
}

/// What a caller may do with one project of an account it belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ProjectAccess {
    /// The project appears in the caller's project list and usage quantities.
    pub view: bool,
    /// The project's amounts appear in usage amounts and invoice previews.
    pub view_costs: bool,
}

impl ProjectAccess {
    pub const NONE: ProjectAccess = ProjectAccess {
        view: false,
        view_costs: false,
    };
}

/// The access rule for one project, from the caller's role in the account and its participation.
pub fn project_access(role: Role, participation: Option<Participation>) -> ProjectAccess {
    if role.manages_billing() {
        return ProjectAccess {
            view: true,
            view_costs: true,
        };
    }
    match participation {
        Some(p) => ProjectAccess {
            view: true,
            view_costs: p.billing_permission,
        },
        None => ProjectAccess::NONE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("admin".parse::<Role>().is_err());
    }

    #[test]
    fn a_limited_token_reaches_only_its_account() {
        assert!(token_reaches(None, &"acct_a"));
        assert!(token_reaches(Some(&"acct_a"), &"acct_a"));
        assert!(!token_reaches(Some(&"acct_a"), &"acct_b"));
    }

    #[test]
    fn access_matrix() {
        let with = Some(Participation {
            billing_permission: true,
        });
        let without = Some(Participation {
            billing_permission: false,
        });
        for role in [Role::Owner, Role::BillingAdmin] {
            for p in [None, with, without] {
                assert_eq!(
                    project_access(role, p),
                    ProjectAccess {
                        view: true,
                        view_costs: true
                    }
                );
            }
        }
        assert_eq!(project_access(Role::Member, None), ProjectAccess::NONE);
        assert_eq!(
            project_access(Role::Member, without),
            ProjectAccess {
                view: true,
                view_costs: false
            }
        );
        assert_eq!(
            project_access(Role::Member, with),
            ProjectAccess {
                view: true,
                view_costs: true
            }
        );
    }
}

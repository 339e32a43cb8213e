//! `lm people …` and `lm org …`: the organization's members and settings from the terminal.
//! Lists and details come from lmd's cache (also offline); changes go through lmd to the
//! server, which allows them to managers only (exit code 4 otherwise).

use crate::client::DaemonClient;
use anyhow::{anyhow, bail};
use lm_protocol::socket::{
    ChangeMemberRequest, ChangeOrgRequest, InviteRequest, MemberDetail, MemberRef, MembersRequest,
    NoArgs, OffboardRequest, Reply, Request,
};
use lm_protocol::{
    AlertDays, IssuedInvitation, Member, MemberFilter, MemberPatch, MemberStatus, NewInvitation,
    Offboarding, Org, OrgName, OrgPatch, Role,
};
use std::io::Write;

#[derive(Debug, clap::Subcommand)]
pub enum PeopleCmd {
    /// List members, e.g. `lm people ls role:manager status:disabled ann`.
    Ls {
        /// Filter terms: role:manager|employee, status:active|invited|disabled, a part of
        /// the name.
        filter: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// One member and every license and seat they hold.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Invite someone (managers): prints the one-time link to hand over.
    Invite {
        /// The name they will sign in with.
        name: String,
        #[arg(long, default_value = "employee")]
        role: String,
        /// A word for the other managers: who this is, why.
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Make a member a manager or an employee (managers).
    Role {
        name: String,
        /// manager or employee
        role: String,
        #[arg(long)]
        json: bool,
    },
    /// Disable a member: signed out everywhere within seconds (managers).
    Disable {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Let a disabled member sign in again (managers).
    Enable {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Release every license and seat a leaver holds and disable them, in one step
    /// (managers).
    Offboard {
        name: String,
        /// Say what would be released; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// End a member's password and logins; prints the link to choose a new one (managers).
    ResetPassword {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum OrgCmd {
    /// The organization's settings.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Change the organization's settings (managers).
    Set {
        /// The name people see.
        #[arg(long)]
        name: Option<String>,
        /// The currency new licenses default to (ISO 4217); `none` clears it.
        #[arg(long)]
        currency: Option<String>,
        /// Days before expiry daemons alert at, e.g. 30,7,1,0.
        #[arg(long)]
        alert_days: Option<String>,
        /// How many seats an employee may buy at once; `none`: only managers buy.
        #[arg(long)]
        self_purchase_max_seats: Option<String>,
        /// Member types whose members take no seat, e.g. teacher,staff; `none` for none.
        #[arg(long)]
        seat_free_types: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn role_arg(raw: &str) -> anyhow::Result<Role> {
    raw.trim()
        .parse()
        .map_err(|_| anyhow!("role: `{raw}` is not a role; use manager or employee"))
}

fn print_json(value: &impl serde::Serialize, out: &mut impl Write) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Sends `request`, expecting the reply `pick` takes.
async fn ask<T>(
    client: &DaemonClient,
    request: Request,
    pick: impl FnOnce(Reply) -> Option<T>,
) -> anyhow::Result<T> {
    let reply = client.request(request).await?;
    pick(reply).ok_or_else(|| anyhow!("lmd answered with something else"))
}

/// Every member the filter selects, in name order, window by window.
pub async fn members(client: &DaemonClient, filter: MemberFilter) -> anyhow::Result<Vec<Member>> {
    let mut all = Vec::new();
    loop {
        let window = client
            .members(MembersRequest {
                filter: filter.clone(),
                offset: all.len(),
                limit: lm_protocol::socket::MAX_LIST_LIMIT,
            })
            .await?;
        let done = window.items.is_empty() || all.len() + window.items.len() >= window.total;
        all.extend(window.items);
        if done {
            return Ok(all);
        }
    }
}

async fn change(client: &DaemonClient, name: &str, patch: MemberPatch) -> anyhow::Result<Member> {
    let request = Request::ChangeMember(ChangeMemberRequest {
        name: name.to_owned(),
        patch,
    });
    ask(client, request, |r| match r {
        Reply::Member(detail) => Some(detail.member),
        _ => None,
    })
    .await
}

pub async fn run_people(
    client: &DaemonClient,
    command: PeopleCmd,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let disabling = matches!(command, PeopleCmd::Disable { .. });
    match command {
        PeopleCmd::Ls { filter, json } => {
            let text = filter.join(" ");
            let filter =
                MemberFilter::parse(&text).map_err(|e| super::args::pointed_at(&text, &e))?;
            let members = members(client, filter).await?;
            if json {
                return print_json(&members, out);
            }
            print_members(&members, now, out)
        }
        PeopleCmd::Show { name, json } => {
            let detail = client.member(&name).await?;
            if json {
                return print_json(&detail, out);
            }
            print_member(&detail, now, out)
        }
        PeopleCmd::Invite {
            name,
            role,
            note,
            json,
        } => {
            let invitation = NewInvitation {
                name,
                role: role_arg(&role)?,
                note,
            };
            let issued = ask(
                client,
                Request::Invite(InviteRequest { invitation }),
                |r| match r {
                    Reply::Link(link) => Some(link),
                    _ => None,
                },
            )
            .await?;
            print_link(&issued, "invited", json, out)
        }
        PeopleCmd::Role { name, role, json } => {
            let role = role_arg(&role)?;
            let member = change(
                client,
                &name,
                MemberPatch {
                    role: Some(role),
                    status: None,
                },
            )
            .await?;
            if json {
                return print_json(&member, out);
            }
            writeln!(out, "{} is now {}", member.name, member.role.as_str())?;
            Ok(())
        }
        PeopleCmd::Disable { name, json } | PeopleCmd::Enable { name, json } => {
            let status = if disabling {
                MemberStatus::Disabled
            } else {
                MemberStatus::Active
            };
            let member = change(
                client,
                &name,
                MemberPatch {
                    role: None,
                    status: Some(status),
                },
            )
            .await?;
            if json {
                return print_json(&member, out);
            }
            writeln!(out, "{} is {}", member.name, member.status)?;
            Ok(())
        }
        PeopleCmd::Offboard {
            name,
            dry_run,
            json,
        } => {
            let outcome = ask(
                client,
                Request::Offboard(OffboardRequest { name, dry_run }),
                |r| match r {
                    Reply::Offboarding(o) => Some(o),
                    _ => None,
                },
            )
            .await?;
            if json {
                return print_json(&outcome, out);
            }
            print_offboarding(&outcome, out)
        }
        PeopleCmd::ResetPassword { name, json } => {
            let issued = ask(
                client,
                Request::ResetPassword(MemberRef { name }),
                |r| match r {
                    Reply::Link(link) => Some(link),
                    _ => None,
                },
            )
            .await?;
            print_link(&issued, "password reset for", json, out)
        }
    }
}

fn print_members(
    members: &[Member],
    now: chrono::DateTime<chrono::Utc>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let width = members
        .iter()
        .map(|m| m.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "{:width$}  {:8}  {:8}  {:14}  {:3}  {:>8}  {:>5}",
        "NAME", "ROLE", "STATUS", "LAST SIGN-IN", "2FA", "LICENSES", "SEATS"
    )?;
    for m in members {
        let last = match (m.status, m.last_sign_in) {
            (MemberStatus::Invited, _) => "—".to_owned(),
            (_, None) => "never".to_owned(),
            (_, Some(at)) => format!("{} ago", crate::format::age(at, now)),
        };
        writeln!(
            out,
            "{:width$}  {:8}  {:8}  {:14}  {:3}  {:>8}  {:>5}",
            m.name,
            m.role.as_str(),
            m.status.as_str(),
            last,
            if m.second_factor { "on" } else { "—" },
            m.licenses,
            m.seats
        )?;
    }
    Ok(())
}

fn print_member(
    detail: &MemberDetail,
    now: chrono::DateTime<chrono::Utc>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let m = &detail.member;
    writeln!(out, "{}", m.name)?;
    writeln!(out, "  role           {}", m.role.as_str())?;
    writeln!(out, "  status         {}", m.status)?;
    if let Some(until) = m.invited_until {
        writeln!(
            out,
            "  invited until  {}",
            until.format("%Y-%m-%d %H:%M UTC")
        )?;
    }
    writeln!(out, "  joined         {}", m.created_at.date_naive())?;
    let last = m.last_sign_in.map_or("never".to_owned(), |at| {
        format!("{} ago", crate::format::age(at, now))
    });
    writeln!(out, "  last sign-in   {last}")?;
    writeln!(
        out,
        "  second factor  {}",
        if m.second_factor { "on" } else { "off" }
    )?;
    writeln!(
        out,
        "  holds          {} license(s), {} seat(s)",
        m.licenses, m.seats
    )?;
    for h in &detail.holdings {
        writeln!(
            out,
            "    {} {}  {}  since {}",
            if h.seat { "seat of" } else { "license" },
            h.license_name,
            h.license,
            h.since.date_naive()
        )?;
    }
    Ok(())
}

fn print_link(
    issued: &IssuedInvitation,
    what: &str,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if json {
        return print_json(issued, out);
    }
    writeln!(
        out,
        "{what} {}; hand over this link (it works once, until {}):",
        issued.invitation.name,
        issued.invitation.expires_at.format("%Y-%m-%d %H:%M UTC")
    )?;
    writeln!(out, "{}", issued.link)?;
    Ok(())
}

fn print_offboarding(outcome: &Offboarding, out: &mut impl Write) -> anyhow::Result<()> {
    let (verb, disable) = if outcome.dry_run {
        ("would release", "would disable the account")
    } else {
        ("released", "disabled the account")
    };
    writeln!(
        out,
        "{}: {verb} {} license(s) and seat(s){}",
        outcome.member,
        outcome.released.len(),
        if outcome.disabled {
            format!("; {disable}")
        } else {
            String::new()
        }
    )?;
    for r in &outcome.released {
        writeln!(
            out,
            "  {} {}  {}",
            if r.seat { "seat of" } else { "license" },
            r.license_name,
            r.license
        )?;
    }
    Ok(())
}

pub async fn run_org(
    client: &DaemonClient,
    command: OrgCmd,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (org, json) = match command {
        OrgCmd::Show { json } => {
            let org = ask(client, Request::Org(NoArgs {}), |r| match r {
                Reply::Org(org) => Some(org),
                _ => None,
            })
            .await?;
            (org, json)
        }
        OrgCmd::Set {
            name,
            currency,
            alert_days,
            self_purchase_max_seats,
            seat_free_types,
            json,
        } => {
            let patch = OrgPatch {
                name: name
                    .map(|n| OrgName::new(&n).map_err(|e| anyhow!("--name: {}", e.message)))
                    .transpose()?,
                currency: currency
                    .map(|c| match c.trim() {
                        "none" => Ok(None),
                        c => c.to_uppercase().parse().map(Some).map_err(
                            |e: lm_protocol::FieldError| anyhow!("--currency: {}", e.message),
                        ),
                    })
                    .transpose()?,
                alert_days: alert_days.map(|d| alert_days_arg(&d)).transpose()?,
                self_purchase_max_seats: self_purchase_max_seats
                    .map(|s| match s.trim() {
                        "none" => Ok(None),
                        n => n.parse::<u32>().map(Some).map_err(|_| {
                            anyhow!("--self-purchase-max-seats: `{n}` is not a number or `none`")
                        }),
                    })
                    .transpose()?,
                seat_free_types: seat_free_types
                    .map(|t| seat_free_types_arg(&t))
                    .transpose()?,
            };
            if patch == OrgPatch::default() {
                bail!("nothing to change: give at least one setting (see `lm org set --help`)");
            }
            let request = Request::ChangeOrg(ChangeOrgRequest { patch });
            let org = ask(client, request, |r| match r {
                Reply::Org(org) => Some(org),
                _ => None,
            })
            .await?;
            (org, json)
        }
    };
    if json {
        return print_json(&org, out);
    }
    print_org(&org, out)
}

fn seat_free_types_arg(raw: &str) -> anyhow::Result<Vec<lm_protocol::HierarchyName>> {
    if raw.trim() == "none" {
        return Ok(Vec::new());
    }
    raw.split(',')
        .map(|t| {
            t.trim()
                .parse()
                .map_err(|e: lm_protocol::FieldError| anyhow!("--seat-free-types: {}", e.message))
        })
        .collect()
}

fn alert_days_arg(raw: &str) -> anyhow::Result<AlertDays> {
    let days = raw
        .split(',')
        .map(|d| d.trim().parse::<u32>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| anyhow!("--alert-days: `{raw}` is not days like 30,7,1,0"))?;
    AlertDays::new(days).map_err(|e| anyhow!("--alert-days: {e}"))
}

fn print_org(org: &Org, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(out, "{} ({})", org.name, org.id)?;
    writeln!(
        out,
        "  currency                 {}",
        org.currency
            .as_ref()
            .map_or("none".to_owned(), ToString::to_string)
    )?;
    let days: Vec<String> = org.alert_days.iter().map(ToString::to_string).collect();
    writeln!(out, "  alert days               {}", days.join(", "))?;
    writeln!(
        out,
        "  self-purchase max seats  {}",
        org.self_purchase_max_seats
            .map_or("none (managers buy)".to_owned(), |n| n.to_string())
    )?;
    let types: Vec<&str> = org.seat_free_types.iter().map(|t| t.as_str()).collect();
    writeln!(
        out,
        "  seat-free member types   {}",
        if types.is_empty() {
            "none".to_owned()
        } else {
            types.join(", ")
        }
    )?;
    Ok(())
}

//! The administrative commands of `lm-server`: users, organizations, keys, tokens, sample
//! data — each opens the database, does one thing, and says what it did on stderr.

use super::clients::{api_key_command, client_command};
use super::*;
use anyhow::{Result, bail};
use lm_server::auth::TokenService;
use lm_server::db::PoolConfig;
use lm_server::store::ChangeContext;
use std::io::IsTerminal;

/// Runs an administrative command (anything but `serve`).
pub(crate) async fn run(common: &Common, command: Command) -> Result<()> {
    // What needs no database is checked or done before it is opened.
    match &command {
        Command::Serve(_) => bail!("`serve` is not an administrative command"),
        Command::User(UserCommand::Add { name, org, .. }) => {
            check_name(name, "user name")?;
            check_name(org, "organization")?;
        }
        Command::Seed { org, .. } => check_name(org, "organization")?,
        Command::Restore { from, check: true } => {
            let summary = lm_server::backup::verify(from)?;
            eprintln!("{} is a complete backup, {summary}", from.display());
            return Ok(());
        }
        _ => {}
    }
    let store = open_store(common, PoolConfig::default()).await?;
    match command {
        Command::Serve(_) => unreachable!("refused above"),
        Command::User(UserCommand::Add { name, role, org }) => {
            let user = store.add_user(&name, &org, role).await?;
            eprintln!(
                "added {} {} to organization {}",
                user.role, user.name, user.org
            );
            Ok(())
        }
        Command::User(UserCommand::Passwd { name }) => {
            let password = read_password(&name)?;
            let hash =
                tokio::task::spawn_blocking(move || lm_server::oauth::hash_password(&password))
                    .await??;
            store
                .set_password(&name, Some(&hash))
                .await
                .map_err(|e| no_such_user(e, &name))?;
            eprintln!("password of {name} set; any lockout lifted");
            Ok(())
        }
        Command::User(UserCommand::SetRole { name, role }) => {
            store
                .set_role(&name, role)
                .await
                .map_err(|e| no_such_user(e, &name))?;
            eprintln!(
                "{name} is now a {role}; tokens issued before keep their role until they expire"
            );
            Ok(())
        }
        Command::User(UserCommand::Disable { name }) => {
            store
                .set_disabled(&name, true)
                .await
                .map_err(|e| no_such_user(e, &name))?;
            eprintln!("{name} is disabled and signed out everywhere");
            Ok(())
        }
        Command::User(UserCommand::Enable { name }) => {
            store
                .set_disabled(&name, false)
                .await
                .map_err(|e| no_such_user(e, &name))?;
            eprintln!("{name} is enabled");
            Ok(())
        }
        Command::User(UserCommand::Mfa(MfaCommand::Enable { name })) => {
            let secret = lm_server::oauth::totp::TotpSecret::generate();
            store
                .set_totp_secret(&name, Some(&secret.to_base32()))
                .await
                .map_err(|e| no_such_user(e, &name))?;
            println!("{}", secret.uri("lm", &name));
            eprintln!(
                "{name} now signs in with a one-time code too; give them this URI (or its secret) for their authenticator app, privately"
            );
            Ok(())
        }
        Command::User(UserCommand::Mfa(MfaCommand::Disable { name })) => {
            store
                .set_totp_secret(&name, None)
                .await
                .map_err(|e| no_such_user(e, &name))?;
            eprintln!("{name} signs in without a one-time code again");
            Ok(())
        }
        Command::User(UserCommand::List) => {
            for u in store.users().await? {
                println!(
                    "{}\t{}\t{}{}",
                    u.name,
                    u.org,
                    u.role,
                    if u.disabled { "\tdisabled" } else { "" }
                );
            }
            Ok(())
        }
        Command::Token(TokenCommand::Issue { user, ttl }) => {
            let Some(u) = store.user(&user).await? else {
                bail!(
                    "no user named `{user}`; add one with `lm-server user add {user} --role manager`"
                );
            };
            if u.disabled {
                bail!("user `{user}` is disabled");
            }
            let tokens =
                TokenService::load(&store, &common.public_url, common.key_secret()?).await?;
            println!("{}", tokens.issue(&u.name, &u.org, u.role, ttl, None)?);
            Ok(())
        }
        Command::Client(command) => client_command(&store, command).await,
        Command::Apikey(command) => api_key_command(&store, command).await,
        Command::Org(OrgCommand::Add { org, name }) => {
            store.ensure_org(&org).await?;
            if let Some(name) = name {
                rename_org(&store, &org, &name).await?;
            }
            eprintln!("organization {org} is there");
            Ok(())
        }
        Command::Org(OrgCommand::List) => {
            for (org, members, licenses) in store.orgs_overview().await? {
                println!(
                    "{}\t{}\t{members} members\t{licenses} licenses",
                    org.id, org.name
                );
            }
            Ok(())
        }
        Command::Org(OrgCommand::Rename { org, name }) => {
            if store
                .orgs_overview()
                .await?
                .iter()
                .all(|(o, _, _)| o.id != org)
            {
                bail!("no organization named `{org}`; add it with `lm-server org add {org}`");
            }
            rename_org(&store, &org, &name).await
        }
        Command::Org(OrgCommand::Remove { org }) => {
            match store.remove_org(&org).await {
                Err(lm_server::store::StoreError::NotFound) => {
                    bail!("no organization named `{org}`")
                }
                Err(lm_server::store::StoreError::Conflict(why)) => bail!("{why}"),
                result => result?,
            }
            eprintln!("organization {org} is removed");
            Ok(())
        }
        Command::Org(OrgCommand::SelfPurchase {
            org,
            max_seats,
            off: _,
        }) => {
            store.set_self_purchase(&org, max_seats).await?;
            match max_seats {
                Some(max) => eprintln!(
                    "employees of {org} may buy seat licenses of up to {max} seats for their own units"
                ),
                None => eprintln!("only managers of {org} buy seat licenses"),
            }
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate) => {
            let secret = common.key_secret()?;
            let kid = lm_server::auth::KeyRing::rotate(&store, secret.as_deref()).await?;
            eprintln!("tokens are now signed with key {kid}; older keys keep verifying");
            Ok(())
        }
        Command::Keys(KeysCommand::List) => {
            for key in store.signing_keys().await? {
                println!(
                    "{}\t{}\t{}",
                    key.kid,
                    key.created_at.format("%Y-%m-%d %H:%M:%S"),
                    key.retired_at.map_or("signing".to_owned(), |t| format!(
                        "retired {}",
                        t.format("%Y-%m-%d %H:%M:%S")
                    ))
                );
            }
            Ok(())
        }
        Command::Purge { older_than } => {
            let before = chrono::Utc::now() - chrono::Duration::from_std(older_than)?;
            let purged = store.purge_removed(before).await?;
            eprintln!("purged {purged} licenses removed before {before}");
            Ok(())
        }
        Command::Backup { to } => {
            let summary = lm_server::backup::backup_to(store.db(), &to).await?;
            eprintln!("backed up to {}: {summary}", to.display());
            Ok(())
        }
        Command::Restore { from, .. } => {
            let actor = format!(
                "{} (lm-server restore)",
                std::env::var("USER").unwrap_or_else(|_| "operator".into())
            );
            let summary = lm_server::backup::restore(&store, &from, &actor).await?;
            eprintln!(
                "restored {}, {summary}; every daemon will resync",
                from.display()
            );
            Ok(())
        }
        Command::Seed {
            licenses,
            org,
            seed,
            school,
            people,
        } => {
            store.ensure_org(&org).await?;
            let today = chrono::Utc::now().date_naive();
            let started = std::time::Instant::now();
            let ctx = ChangeContext {
                org: org.clone(),
                actor: "lm-server seed".into(),
                request_id: None,
                client_addr: None,
            };
            let mut added = 0;
            for chunk in lm_server::sample::licenses(licenses, seed, today).chunks(10_000) {
                added += store.insert_batch(&ctx, chunk.to_vec()).await?;
            }
            if people {
                let mut joined = 0;
                for name in lm_server::sample::EMPLOYEES {
                    let role = if *name == "grace" {
                        lm_protocol::Role::Manager
                    } else {
                        lm_protocol::Role::Employee
                    };
                    match store.add_user(name, &org, role).await {
                        Ok(_) if *name == "mallory" => {
                            joined += 1;
                            // A leaver not offboarded yet: what they hold is for the
                            // reclaim report.
                            store.set_disabled(name, true).await?;
                        }
                        Ok(_) => joined += 1,
                        // Already there: a seed run twice, or a name taken before.
                        Err(lm_server::store::StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                eprintln!("added {joined} sample people as members of {org} (mallory disabled)");
            }
            if school {
                let made = lm_server::sample_school::school(&store, &ctx, today).await?;
                eprintln!(
                    "added a school of {} people with {} seat licenses, {} seats taken",
                    made.people, made.licenses, made.seats_taken
                );
            }
            store.analyze().await?;
            eprintln!(
                "added {added} sample licenses to {org} in {:.1?}",
                started.elapsed()
            );
            Ok(())
        }
    }
}

fn no_such_user(e: lm_server::store::StoreError, name: &str) -> anyhow::Error {
    match e {
        lm_server::store::StoreError::NotFound => anyhow::anyhow!(
            "no user named `{name}`; add one with `lm-server user add {name} --role manager`"
        ),
        other => other.into(),
    }
}

/// Reads a new password: twice, without echo, from a terminal; else one line of stdin.
fn read_password(name: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("New password for {name}: "))?;
        let second = rpassword::prompt_password("Again: ")?;
        if first != second {
            bail!("the two passwords differ; nothing changed");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    }
}

pub(crate) fn check_name(name: &str, what: &str) -> Result<()> {
    // The rule the API applies to members, invitations and service accounts too.
    lm_protocol::invitation::check_member_name(name)
        .map_err(|rule| anyhow::anyhow!("`{name}` is not a valid {what}: {rule}"))
}

/// Sets the name people see for `org`, audited as the administrator's change.
async fn rename_org(store: &Store, org: &str, name: &str) -> anyhow::Result<()> {
    let name: lm_protocol::OrgName = name
        .parse()
        .map_err(|e: lm_protocol::FieldError| anyhow::anyhow!("the name {}", e.message))?;
    let ctx = ChangeContext {
        org: org.to_owned(),
        actor: "lm-server org".into(),
        request_id: None,
        client_addr: None,
    };
    let patch = lm_protocol::OrgPatch {
        name: Some(name),
        ..lm_protocol::OrgPatch::default()
    };
    store.change_org(&ctx, &patch).await?;
    Ok(())
}

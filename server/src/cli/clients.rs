//! `lm-server apikey` and `lm-server client`: API keys and OAuth clients of organizations.

use super::admin::check_name;
use super::*;
use anyhow::{Context, Result, bail};
use lm_server::store::ChangeContext;

pub(crate) async fn api_key_command(store: &Store, command: ApiKeyCommand) -> Result<()> {
    let admin = |org: String| ChangeContext {
        org,
        actor: "lm-server apikey".into(),
        request_id: None,
        client_addr: None,
    };
    match command {
        ApiKeyCommand::Create {
            user,
            label,
            expires,
        } => {
            let label =
                lm_protocol::KeyLabel::new(&label).map_err(|e| anyhow::anyhow!("--label: {e}"))?;
            let Some(owner) = store.user(&user).await? else {
                bail!(
                    "no user named `{user}`; add one with `lm-server user add {user} --role employee`"
                );
            };
            let expires_at = expires
                .map(|d| chrono::Duration::from_std(d).map(|d| chrono::Utc::now() + d))
                .transpose()
                .context("--expires is too long")?;
            let (info, key, _) = match store
                .create_api_key(&admin(owner.org), &user, label.as_str(), expires_at)
                .await
            {
                Err(lm_server::store::StoreError::NotFound) => bail!("user `{user}` is disabled"),
                other => other?,
            };
            println!("{key}");
            eprintln!(
                "API key {} of {user} made; store it now, it cannot be shown again",
                info.id
            );
            Ok(())
        }
        ApiKeyCommand::List { user } => {
            for k in store.api_keys(user.as_deref()).await? {
                let state = match (k.revoked_at, k.expires_at) {
                    (Some(at), _) => format!("revoked {}", at.format("%Y-%m-%d")),
                    (None, Some(at)) => format!("expires {}", at.format("%Y-%m-%d")),
                    (None, None) => "no expiry".into(),
                };
                println!("{}\t{}\t{}\t{state}", k.id, k.owner, k.label);
            }
            Ok(())
        }
        ApiKeyCommand::Revoke { id } => {
            match store.revoke_api_key(&admin(String::new()), &id, None).await {
                Err(lm_server::store::StoreError::NotFound) => {
                    bail!("no live API key `{id}`; `lm-server apikey list` shows them")
                }
                other => other?,
            }
            eprintln!("API key {id} revoked; it stops working within 5 seconds");
            Ok(())
        }
    }
}

pub(crate) async fn client_command(store: &Store, command: ClientCommand) -> Result<()> {
    match command {
        ClientCommand::Add {
            id,
            name,
            role,
            org,
            mut grants,
            public,
            redirect_uris,
        } => {
            check_name(&id, "client id")?;
            if id == lm_server::oauth::BUILTIN_CLIENT {
                bail!("`{id}` is the built-in client of lmd and the CLI; choose another id");
            }
            if let Some(org) = &org {
                check_name(org, "organization")?;
            }
            let service_account = role.zip(org).map(|(role, org)| (org, role));
            if grants.is_empty() && service_account.is_some() {
                grants.push("client_credentials".into());
            }
            let credentials = grants.iter().any(|g| g == "client_credentials");
            if credentials && service_account.is_none() {
                bail!(
                    "--grant client_credentials needs --role and --org: what does the service account act as?"
                );
            }
            if credentials && public {
                bail!("a public client cannot use client_credentials: anyone could claim to be it");
            }
            if public && grants.is_empty() {
                bail!(
                    "a public client needs a --grant (device_code, authorization_code, refresh_token)"
                );
            }
            let browser = grants.iter().any(|g| g == "authorization_code");
            if browser && redirect_uris.is_empty() {
                bail!(
                    "--grant authorization_code needs a --redirect-uri to send the browser back to"
                );
            }
            for uri in &redirect_uris {
                let scheme_ok = uri.starts_with("https://")
                    || uri.starts_with("http://127.0.0.1")
                    || uri.starts_with("http://[::1]");
                if !scheme_ok || uri.contains('#') {
                    bail!(
                        "--redirect-uri `{uri}`: use https://…, or a loopback http://127.0.0.1/… or http://[::1]/… without a #fragment"
                    );
                }
            }
            let secret = (!public).then(|| lm_server::oauth::random_secret(32));
            store
                .add_client(&lm_server::store::clients::NewClient {
                    name: name.unwrap_or_else(|| id.clone()),
                    id: id.clone(),
                    secret: secret.clone(),
                    redirect_uris,
                    grants,
                    service_account,
                })
                .await?;
            println!("client_id: {id}");
            if let Some(secret) = secret {
                println!("client_secret: {secret}");
                eprintln!("store the secret now: only its hash is kept, it cannot be shown again");
            }
            Ok(())
        }
        ClientCommand::List => {
            println!("lm	public	device_code authorization_code refresh_token	(built in)");
            for c in store.clients().await? {
                let grants: Vec<&str> = c
                    .grants
                    .iter()
                    .map(|g| g.trim_start_matches("urn:ietf:params:oauth:grant-type:"))
                    .collect();
                println!(
                    "{}	{}	{}	{}",
                    c.id,
                    if c.is_confidential() {
                        "confidential"
                    } else {
                        "public"
                    },
                    if grants.is_empty() {
                        "-".to_owned()
                    } else {
                        grants.join(" ")
                    },
                    c.service_account
                        .map_or_else(String::new, |(org, role)| format!("{role} in {org}")),
                );
            }
            Ok(())
        }
        ClientCommand::Remove { id } => {
            match store.remove_client(&id).await {
                Err(lm_server::store::StoreError::NotFound) => {
                    bail!("no client `{id}`; `lm-server client list` shows them")
                }
                other => other?,
            }
            eprintln!("client {id} removed; its tokens stop working within 5 seconds");
            Ok(())
        }
    }
}

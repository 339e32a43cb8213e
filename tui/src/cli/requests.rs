//! What the commands ask lmd over its socket.

use crate::client::{ClientError, DaemonClient};
use anyhow::bail;
use lm_protocol::socket::{
    AssignRequest, CreateRequest, ExpiryAlert, HeldPermissions, HoldersRequest, ImportRequest,
    LicenseRef, RemoveRequest, Request, Status, UnassignRequest, UpdateRequest,
};
use lm_protocol::{
    Assignee, Assignment, License, LicenseFilter, LicenseId, LicensePatch, NewLicense, Sort,
};

pub async fn status(client: &DaemonClient) -> Result<Status, ClientError> {
    client.status().await
}

/// The logged-in user's permissions, as lmd holds them (see `lm_daemon::grant`).
pub async fn permissions(client: &DaemonClient) -> Result<HeldPermissions, ClientError> {
    client.permissions().await
}

/// The expiry alerts in effect, soonest first, and how many there are.
pub async fn alerts(client: &DaemonClient) -> Result<(Vec<ExpiryAlert>, usize), ClientError> {
    client.alerts().await
}

/// Sends `path` (absolute) to the server's import through lmd.
pub async fn import(
    client: &DaemonClient,
    path: std::path::PathBuf,
    dry_run: bool,
) -> Result<lm_protocol::csv::ImportReport, ClientError> {
    client.import(ImportRequest { path, dry_run }).await
}

/// Sends a request answered with a license.
pub(super) async fn license_reply(
    client: &DaemonClient,
    request: Request,
) -> Result<License, ClientError> {
    client.license(request).await
}

/// Every license matching `filter`, in `sort` order (at most `limit`), fetched in windows.
pub async fn list_all(
    client: &DaemonClient,
    filter: LicenseFilter,
    sort: Sort,
    limit: Option<usize>,
) -> Result<Vec<License>, ClientError> {
    let mut out = Vec::new();
    crate::listing::each_license(client, filter, sort, limit, |window| {
        out.extend(window);
        Ok::<_, ClientError>(())
    })
    .await?;
    Ok(out)
}

/// Logs lmd in with the device flow: shows where to approve, then waits for the outcome.
pub async fn login(
    client: &DaemonClient,
    mut events: tokio::sync::mpsc::UnboundedReceiver<lm_protocol::socket::Event>,
) -> anyhow::Result<()> {
    use lm_protocol::socket::{Connection, Event};
    client.subscribe().await?;
    let prompt = client.login().await?;
    eprintln!(
        "To log in, open {} in a browser and enter the code {}",
        prompt.verification_uri, prompt.user_code
    );
    if let Some(complete) = &prompt.verification_uri_complete {
        eprintln!("(or open {complete} directly)");
    }
    eprintln!("Waiting for approval…");
    let deadline = std::time::Duration::from_secs(prompt.expires_in + 5);
    let outcome = tokio::time::timeout(deadline, async {
        while let Some(event) = events.recv().await {
            match event {
                Event::Sync(status)
                    if status.user.is_some()
                        && !matches!(status.connection, Connection::LoginRequired { .. }) =>
                {
                    return Ok(status);
                }
                Event::LoginFailed { reason } => return Err(reason),
                _ => {}
            }
        }
        Err("lmd closed the connection".to_owned())
    })
    .await;
    match outcome {
        Ok(Ok(status)) => {
            let user = status.user.expect("checked above");
            eprintln!(
                "logged in as {} ({}, organization {})",
                user.subject, user.role, user.org
            );
            Ok(())
        }
        Ok(Err(reason)) => Err(ClientError::Problem(Box::new(lm_protocol::Problem::local(
            lm_protocol::socket::kinds::LOGIN_REQUIRED,
            401,
            "Login failed",
            reason,
        )))
        .into()),
        Err(_) => bail!("the login code expired before it was approved; run `lm login` again"),
    }
}

/// Finds a license by its full id or any unique part of it.
pub async fn resolve(client: &DaemonClient, fragment: &str) -> anyhow::Result<License> {
    let fragment = fragment.trim().to_lowercase();
    if fragment.len() < 4 {
        bail!("`{fragment}`: give at least 4 characters of the license id");
    }
    if let Ok(id) = fragment.parse::<LicenseId>()
        && let Ok(license) = client
            .license(Request::Get(LicenseRef { license: id }))
            .await
    {
        return Ok(license);
    }
    let filter = LicenseFilter {
        q: Some(fragment.clone()),
        ..LicenseFilter::default()
    };
    let candidates = list_all(client, filter, Sort::default(), None).await?;
    let matching: Vec<License> = candidates
        .into_iter()
        .filter(|l| l.id.as_str().contains(&fragment))
        .collect();
    match matching.len() {
        0 => bail!("no license id contains `{fragment}` (see `lm ls`)"),
        1 => Ok(matching.into_iter().next().expect("one")),
        n => bail!(
            "`{fragment}` is part of {n} license ids ({}); give more of it",
            matching
                .iter()
                .take(3)
                .map(|l| l.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub async fn create(client: &DaemonClient, license: NewLicense) -> Result<License, ClientError> {
    license_reply(client, Request::Create(CreateRequest { license })).await
}

pub async fn update(
    client: &DaemonClient,
    current: &License,
    patch: LicensePatch,
) -> Result<License, ClientError> {
    license_reply(
        client,
        Request::Update(UpdateRequest {
            license: current.id.clone(),
            version: current.version,
            patch,
        }),
    )
    .await
}

pub async fn remove(client: &DaemonClient, license: &License) -> Result<(), ClientError> {
    client
        .request(Request::Remove(RemoveRequest {
            license: license.id.clone(),
            version: Some(license.version),
        }))
        .await
        .map(drop)
}

pub async fn restore(client: &DaemonClient, id: LicenseId) -> Result<License, ClientError> {
    license_reply(client, Request::Restore(LicenseRef { license: id })).await
}

pub async fn assign(
    client: &DaemonClient,
    license: &License,
    to: Assignee,
) -> Result<License, ClientError> {
    license_reply(
        client,
        Request::Assign(AssignRequest {
            license: license.id.clone(),
            to,
        }),
    )
    .await
}

pub async fn unassign(
    client: &DaemonClient,
    license: &License,
    who: &Assignee,
) -> anyhow::Result<()> {
    // Among the holders the license lists, or perhaps beyond them: lmd, which knows every
    // holder, finds the assignment.
    let listed = license.assignments.iter().any(|a| a.assignee == *who);
    if !listed && license.unlisted_assignments() == 0 {
        bail!("“{}” is not assigned to {who}", license.name);
    }
    client
        .request(Request::Unassign(UnassignRequest {
            license: license.id.clone(),
            assignment: None,
            from: Some(who.clone()),
        }))
        .await?;
    Ok(())
}

/// Every holder of `license`, in the order they were assigned, window by window.
pub async fn holders(client: &DaemonClient, license: &License) -> anyhow::Result<Vec<Assignment>> {
    let mut all = Vec::new();
    loop {
        let window = client
            .holders(HoldersRequest {
                license: license.id.clone(),
                offset: all.len(),
            })
            .await?;
        let got = window.items.len();
        all.extend(window.items);
        if got == 0 || all.len() >= window.total {
            return Ok(all);
        }
    }
}

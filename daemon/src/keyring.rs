//! The OS keyring: the freedesktop Secret Service (GNOME Keyring, KWallet, KeePassXC) on the
//! session bus, where lmd keeps the login when one is running and unlocked.
//!
//! Only what a login needs: one item per login file, found by its attributes, written to the
//! default collection, read and deleted. Secrets travel in the "plain" session (the bus is
//! the user's own). A keyring that is absent, locked (it would need a prompt) or failing is
//! reported, and the caller falls back to the 0600 file.

use std::collections::HashMap;
use zbus::{ObjectPath, OwnedObjectPath, OwnedVariant, Variant as Value};

const SERVICE: &str = "org.freedesktop.secrets";
/// `/` stands for "none" in the Secret Service API (no collection, no prompt needed).
const NONE: &str = "/";

/// A secret as the Secret Service passes it: session, parameters, value, content type.
type Secret = (OwnedObjectPath, Vec<u8>, Vec<u8>, String);

#[zbus::proxy(
    interface = "org.freedesktop.Secret.Service",
    default_service = "org.freedesktop.secrets",
    default_path = "/org/freedesktop/secrets"
)]
trait Service {
    fn open_session(
        &self,
        algorithm: &str,
        input: &Value<'_>,
    ) -> zbus::Result<(OwnedVariant, OwnedObjectPath)>;

    fn search_items(
        &self,
        attributes: HashMap<&str, &str>,
    ) -> zbus::Result<(Vec<OwnedObjectPath>, Vec<OwnedObjectPath>)>;

    fn get_secrets(
        &self,
        items: &[ObjectPath<'_>],
        session: &ObjectPath<'_>,
    ) -> zbus::Result<HashMap<OwnedObjectPath, Secret>>;

    fn read_alias(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
}

#[zbus::proxy(
    interface = "org.freedesktop.Secret.Collection",
    default_service = "org.freedesktop.secrets"
)]
trait Collection {
    fn create_item(
        &self,
        properties: HashMap<&str, Value<'_>>,
        secret: &Secret,
        replace: bool,
    ) -> zbus::Result<(OwnedObjectPath, OwnedObjectPath)>;
}

#[zbus::proxy(
    interface = "org.freedesktop.Secret.Item",
    default_service = "org.freedesktop.secrets"
)]
trait Item {
    fn delete(&self) -> zbus::Result<OwnedObjectPath>;
}

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("the keyring failed: {0}")]
    Bus(#[from] zbus::Error),
    #[error("the keyring is locked; unlocking it needs a prompt lmd cannot show")]
    Locked,
    #[error("the keyring has no default collection")]
    NoCollection,
}

/// The keyring item of one login, on a session bus where a Secret Service runs.
#[derive(Clone)]
pub struct Keyring {
    connection: zbus::Connection,
    session: OwnedObjectPath,
    /// What finds the item: this application and the login file it stands for.
    attributes: Vec<(String, String)>,
}

impl Keyring {
    /// The keyring of the session bus, if a Secret Service runs there; `login` names the
    /// login (the file it would otherwise be kept in), so that two logins never meet.
    pub async fn connect(login: &str) -> Option<Keyring> {
        let connection = zbus::Connection::session().await.ok()?;
        let bus = zbus::fdo::DBusProxy::new(&connection).await.ok()?;
        let name = zbus::names::BusName::try_from(SERVICE).ok()?;
        if !bus.name_has_owner(name).await.ok()? {
            return None;
        }
        let service = ServiceProxy::new(&connection).await.ok()?;
        let (_, session) = match service.open_session("plain", &Value::from("")).await {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(error = %e, "the keyring refused a session");
                return None;
            }
        };
        Some(Keyring {
            connection,
            session,
            attributes: vec![
                ("application".into(), "lm".into()),
                ("login".into(), login.to_owned()),
            ],
        })
    }

    fn attributes(&self) -> HashMap<&str, &str> {
        self.attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The unlocked items of this login.
    async fn items(&self) -> Result<Vec<OwnedObjectPath>, KeyringError> {
        let service = ServiceProxy::new(&self.connection).await?;
        let (unlocked, locked) = service.search_items(self.attributes()).await?;
        if unlocked.is_empty() && !locked.is_empty() {
            return Err(KeyringError::Locked);
        }
        Ok(unlocked)
    }

    /// The secret kept for this login, if any.
    pub async fn load(&self) -> Result<Option<Vec<u8>>, KeyringError> {
        let Some(item) = self.items().await?.into_iter().next() else {
            return Ok(None);
        };
        let service = ServiceProxy::new(&self.connection).await?;
        let mut secrets = service
            .get_secrets(&[item.as_ref()], &self.session.as_ref())
            .await?;
        Ok(secrets.remove(&item).map(|(_, _, value, _)| value))
    }

    /// Keeps `secret` for this login in the default collection, replacing what was there.
    pub async fn store(&self, label: &str, secret: &[u8]) -> Result<(), KeyringError> {
        let service = ServiceProxy::new(&self.connection).await?;
        let collection = service.read_alias("default").await?;
        if collection.as_str() == NONE {
            return Err(KeyringError::NoCollection);
        }
        let collection = CollectionProxy::builder(&self.connection)
            .path(collection)
            .build()
            .await?;
        let attributes = Value::from(self.attributes());
        let properties = HashMap::from([
            ("org.freedesktop.Secret.Item.Label", Value::from(label)),
            ("org.freedesktop.Secret.Item.Attributes", attributes),
        ]);
        let secret: Secret = (
            self.session.clone(),
            Vec::new(),
            secret.to_vec(),
            "application/json".into(),
        );
        let (item, prompt) = collection.create_item(properties, &secret, true).await?;
        if item.as_str() == NONE || prompt.as_str() != NONE {
            return Err(KeyringError::Locked);
        }
        Ok(())
    }

    /// Forgets this login's secret.
    pub async fn delete(&self) -> Result<(), KeyringError> {
        for item in self.items().await? {
            ItemProxy::builder(&self.connection)
                .path(item)
                .build()
                .await?
                .delete()
                .await?;
        }
        Ok(())
    }
}

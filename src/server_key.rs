//! The server key, kept outside the database: it seals what the database
//! must keep but must not show (a stored answer that carries a manage link,
//! a message waiting to be sent), and the manage pages' cookies. A copy of
//! the database files or of a backup, without the key, opens none of it.
//!
//! Beside a SQLite database the service makes the key itself on first start
//! (`data/clinic.key` for `data/clinic.db`, mode 0600). Instances sharing a
//! PostgreSQL database share one key through configuration
//! (`security.server_key`), or through one key file they all read
//! (`security.server_key_file`).

use std::borrow::Cow;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use ring::hkdf;
use secrecy::ExposeSecret;

use crate::configuration::SecuritySettings;
use crate::private_files;

/// What a sealed value starts with; a stored value without it was written
/// before sealing existed (and is sealed at the next start).
pub const SEALED_PREFIX: &str = "sealed1.";

/// A configured key must be at least this long (a random string; the key
/// file holds 32 random bytes, 43 characters).
const MIN_KEY_CHARS: usize = 32;

/// What a sealed value was sealed for; opening it for anything else fails,
/// so a sealed value cannot be moved to another column and read there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A remembered answer to an `Idempotency-Key` (`idempotency_keys`).
    StoredAnswer,
    /// The text of a message waiting in the outbox.
    MailBody,
    /// The calendar file attached to such a message.
    MailCalendar,
    /// The manage pages' cookie (it holds the manage token).
    ManageCookie,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::StoredAnswer => b"stored-answer",
            Purpose::MailBody => b"mail-body",
            Purpose::MailCalendar => b"mail-calendar",
            Purpose::ManageCookie => b"manage-cookie",
        }
    }
}

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("sealed with another server key (key id {0}); restore the key it was sealed with")]
    OtherKey(String),
    #[error("sealed value is damaged or was sealed for something else")]
    Damaged,
}

/// Where the key came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `security.server_key`.
    Configured,
    /// A key file that existed.
    File(PathBuf),
    /// A key file made now, on first start.
    Created(PathBuf),
}

pub struct ServerKey {
    seal: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerKey(id {})", self.id)
    }
}

/// An HKDF output length, for the key id.
struct Bytes(usize);

impl hkdf::KeyType for Bytes {
    fn len(&self) -> usize {
        self.0
    }
}

impl ServerKey {
    /// The key derived from `material` (the configured secret or the key
    /// file's content). Sealing and the id each get their own key.
    pub fn from_material(material: &[u8]) -> anyhow::Result<ServerKey> {
        let prk =
            hkdf::Salt::new(hkdf::HKDF_SHA256, b"clinic-booking server key").extract(material);
        let derive = |what: &str| anyhow!("cannot derive the {what} key from the server key");
        let seal = prk
            .expand(&[b"seal"], &aead::CHACHA20_POLY1305)
            .map(UnboundKey::from)
            .map(LessSafeKey::new)
            .map_err(|_| derive("sealing"))?;
        let mut id = [0u8; 4];
        prk.expand(&[b"id"], Bytes(id.len()))
            .and_then(|okm| okm.fill(&mut id))
            .map_err(|_| derive("id"))?;
        Ok(ServerKey {
            seal,
            id: hex::encode(id),
        })
    }

    /// The key as configured: `security.server_key`, else the key file
    /// (`security.server_key_file`, or beside a SQLite database), made on
    /// first start for SQLite. PostgreSQL needs one or the other, the same
    /// on every instance: a key of its own per instance would leave each
    /// unable to open what the others sealed.
    ///
    /// `sqlite_database` is the SQLite database's file, `None` on PostgreSQL.
    pub fn load(
        security: &SecuritySettings,
        sqlite_database: Option<&Path>,
    ) -> anyhow::Result<(ServerKey, Origin)> {
        let configured = security.server_key.expose_secret().trim();
        let named_file = security.server_key_file.trim();
        if !configured.is_empty() {
            if !named_file.is_empty() {
                bail!("set security.server_key or security.server_key_file, not both");
            }
            if configured.chars().count() < MIN_KEY_CHARS {
                bail!(
                    "invalid setting security.server_key: use at least {MIN_KEY_CHARS} random characters (e.g. `openssl rand -base64 32`)"
                );
            }
            return Ok((
                ServerKey::from_material(configured.as_bytes())?,
                Origin::Configured,
            ));
        }
        let (path, may_create) = match (sqlite_database, named_file) {
            (Some(database), "") => (database.with_extension("key"), true),
            (Some(_), file) => (PathBuf::from(file), true),
            (None, "") => bail!(
                "PostgreSQL needs security.server_key (CLINIC__SECURITY__SERVER_KEY), the same \
                 on every instance: e.g. `openssl rand -base64 32` (see docs/SECURITY.md)"
            ),
            (None, file) => (PathBuf::from(file), false),
        };
        if path.exists() {
            return Ok((read_key_file(&path)?, Origin::File(path)));
        }
        if !may_create {
            bail!(
                "security.server_key_file {} does not exist; instances sharing a PostgreSQL \
                 database must all read the same key",
                path.display()
            );
        }
        let key = create_key_file(&path)?;
        Ok((key, Origin::Created(path)))
    }

    /// A short name of this key, written into every sealed value, so that
    /// a value sealed with another key says so instead of failing blindly.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `plain` sealed for `purpose`: `sealed1.<key id>.<nonce, ciphertext
    /// and tag in base64url>`.
    pub fn seal(&self, purpose: Purpose, plain: &str) -> anyhow::Result<String> {
        // 96 random bits per value: a repeat stays out of reach for far
        // more values than a clinic ever seals under one key.
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut sealed = plain.as_bytes().to_vec();
        let tag = self
            .seal
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.label()),
                &mut sealed,
            )
            .map_err(|_| anyhow!("cannot seal a value of {} bytes", plain.len()))?;
        let mut packed = Vec::with_capacity(NONCE_LEN + sealed.len() + tag.as_ref().len());
        packed.extend_from_slice(&nonce);
        packed.extend_from_slice(&sealed);
        packed.extend_from_slice(tag.as_ref());
        Ok(format!(
            "{SEALED_PREFIX}{}.{}",
            self.id,
            URL_SAFE_NO_PAD.encode(packed)
        ))
    }

    /// What `stored` says: opened when sealed (for `purpose`), as it is when
    /// it was stored before sealing existed.
    pub fn open<'a>(&self, purpose: Purpose, stored: &'a str) -> Result<Cow<'a, str>, OpenError> {
        let Some(sealed) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok(Cow::Borrowed(stored));
        };
        let (id, packed) = sealed.split_once('.').ok_or(OpenError::Damaged)?;
        if id != self.id {
            return Err(OpenError::OtherKey(id.to_string()));
        }
        let mut packed = URL_SAFE_NO_PAD
            .decode(packed)
            .map_err(|_| OpenError::Damaged)?;
        if packed.len() < NONCE_LEN {
            return Err(OpenError::Damaged);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&packed[..NONCE_LEN]);
        let plain = self
            .seal
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.label()),
                &mut packed[NONCE_LEN..],
            )
            .map_err(|_| OpenError::Damaged)?;
        String::from_utf8(plain.to_vec())
            .map(Cow::Owned)
            .map_err(|_| OpenError::Damaged)
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<ServerKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the server key {}", path.display()))?;
    let material = text.trim();
    if material.chars().count() < MIN_KEY_CHARS {
        bail!(
            "the server key {} is shorter than {MIN_KEY_CHARS} characters",
            path.display()
        );
    }
    if let Ok(metadata) = std::fs::metadata(path) {
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the server key file is readable by others: making it private (mode 0600)"
            );
            private_files::restrict(path)
                .with_context(|| format!("cannot restrict {}", path.display()))?;
        }
    }
    ServerKey::from_material(material.as_bytes())
}

/// Makes a new key file at `path`: 32 random bytes, base64url, mode 0600,
/// synced with its folder before the key is used for anything.
fn create_key_file(path: &Path) -> anyhow::Result<ServerKey> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let material = URL_SAFE_NO_PAD.encode(secret);
    if let Some(dir) = path.parent() {
        private_files::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder of {}", path.display()))?;
    }
    private_files::write_new(path, format!("{material}\n").as_bytes())
        .with_context(|| format!("cannot write the server key {}", path.display()))?;
    ServerKey::from_material(material.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(material: &str) -> ServerKey {
        ServerKey::from_material(material.as_bytes()).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_for_its_purpose() {
        let one = key("one-key-of-at-least-thirty-two-characters");
        let other = key("another-key-of-at-least-thirty-two-chars");
        let plain = "{\"manage_url\":\"https://x/manage/K7QM-3XWD?token=secret\"}";
        let sealed = one.seal(Purpose::StoredAnswer, plain).unwrap();
        assert!(sealed.starts_with(&format!("{SEALED_PREFIX}{}.", one.id())));
        assert!(!sealed.contains("secret") && !sealed.contains("manage"));
        assert_ne!(
            sealed,
            one.seal(Purpose::StoredAnswer, plain).unwrap(),
            "fresh nonce"
        );
        assert_eq!(one.open(Purpose::StoredAnswer, &sealed).unwrap(), plain);
        assert!(matches!(
            other.open(Purpose::StoredAnswer, &sealed),
            Err(OpenError::OtherKey(id)) if id == one.id()
        ));
        assert!(matches!(
            one.open(Purpose::MailBody, &sealed),
            Err(OpenError::Damaged)
        ));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(one.open(Purpose::StoredAnswer, &tampered).is_err());
        // What was stored before sealing existed reads as it is.
        assert_eq!(one.open(Purpose::MailBody, "本文").unwrap(), "本文");
    }

    #[test]
    fn beside_sqlite_the_key_file_is_made_once_private_and_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("data/clinic.db");
        let settings = SecuritySettings::default();
        let (made, origin) = ServerKey::load(&settings, Some(&database)).unwrap();
        let path = dir.path().join("data/clinic.key");
        assert_eq!(origin, Origin::Created(path.clone()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("data")), 0o700);
        let (again, origin) = ServerKey::load(&settings, Some(&database)).unwrap();
        assert_eq!(origin, Origin::File(path));
        assert_eq!(made.id(), again.id());
        let sealed = made.seal(Purpose::MailBody, "x").unwrap();
        assert_eq!(again.open(Purpose::MailBody, &sealed).unwrap(), "x");
    }

    #[test]
    fn postgres_without_a_shared_key_refuses_to_start() {
        let mut settings = SecuritySettings::default();
        let error = ServerKey::load(&settings, None).unwrap_err().to_string();
        assert!(error.contains("security.server_key"), "{error}");
        settings.server_key = "too-short".to_string().into();
        assert!(ServerKey::load(&settings, None).is_err());
        settings.server_key = "a-shared-key-of-at-least-thirty-two-chars"
            .to_string()
            .into();
        let (_, origin) = ServerKey::load(&settings, None).unwrap();
        assert_eq!(origin, Origin::Configured);
        settings.server_key = String::new().into();
        settings.server_key_file = "/nonexistent/clinic.key".into();
        assert!(
            ServerKey::load(&settings, None).is_err(),
            "never made for PostgreSQL"
        );
    }
}

//! Local configuration: the data directory, the gateway's secrets and the storage choice.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use pixgw_api::accounts::{NewAccountCredentials, create_account, create_account_with_providers};
use pixgw_api::auth::AuthKeys;
use pixgw_api::store::DynStore;
use pixgw_domain::account::ports::AccountUpdateError;
use pixgw_domain::messaging::outbox::OutboxFeed;
use pixgw_domain::pix::clock::{Clock, SystemClock};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::provider::directory::validate_provider_list;
use pixgw_store_dynamodb::DynamoStore;
use pixgw_store_dynamodb::outbox::DynamoStreamFeed;
use pixgw_store_embedded::{EmbeddedStore, private_files};
use serde::{Deserialize, Serialize};

use crate::{StorageArgs, StoreKind};

pub type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// The files the gateway writes into the data dir, besides the store's own
/// ([`pixgw_store_embedded::FILE_NAME`]). All of them are private to the user running it
/// (directory `0700`, files `0600`, tightened on every start; see [`private_files`]): they hold
/// the gateway's keys, the demo account's credentials and payers' CPF/CNPJ.
pub const SECRETS_FILE: &str = "secrets.json";
pub const DEMO_ACCOUNT_FILE: &str = "demo-account.json";

/// The gateway's own keys, generated on first use and kept (0600) in the data dir, unless
/// `PIXGW_JWT_SECRET` / `PIXGW_DATA_KEY` are set (they win, as in Lambda).
#[derive(Serialize, Deserialize)]
struct SecretsFile {
    jwt_secret: String,
    data_key: String,
}

pub fn load_keys(data_dir: &Path) -> Result<AuthKeys, AnyError> {
    if let (Ok(jwt), Ok(data)) = (
        std::env::var("PIXGW_JWT_SECRET"),
        std::env::var("PIXGW_DATA_KEY"),
    ) {
        return Ok(AuthKeys::from_hex(&jwt, &data)?);
    }
    private_files::private_dir(data_dir)?;
    let path = data_dir.join(SECRETS_FILE);
    let secrets: SecretsFile = if path.exists() {
        private_files::private_file(&path)?;
        serde_json::from_slice(&fs::read(&path)?)?
    } else {
        let (jwt_secret, data_key) = AuthKeys::generate_hex();
        let secrets = SecretsFile {
            jwt_secret,
            data_key,
        };
        write_private(&path, &serde_json::to_vec_pretty(&secrets)?)?;
        secrets
    };
    Ok(AuthKeys::from_hex(&secrets.jwt_secret, &secrets.data_key)?)
}

/// Writes a file readable only by its owner: created `0600`, or tightened to `0600` before
/// anything is written if it already existed with a looser mode.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AnyError> {
    private_files::private_file(path)?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

async fn open_store(args: &StorageArgs) -> Result<DynStore, AnyError> {
    Ok(open_store_with_outbox(args).await?.0)
}

/// The store, and where its committed outbox messages are read from: the embedded store's
/// own outbox table, or the DynamoDB table's stream (as the Lambda relay reads it).
pub async fn open_store_with_outbox(
    args: &StorageArgs,
) -> Result<(DynStore, Arc<dyn OutboxFeed>), AnyError> {
    Ok(match args.store {
        StoreKind::Embedded => {
            private_files::private_dir(&args.data_dir)?;
            let store = EmbeddedStore::open(&args.data_dir).map_err(|e| {
                format!(
                    "{e}\n(the embedded store allows one process at a time: if `pixgw serve` is \
                     running on {}, stop it first)",
                    args.data_dir.display()
                )
            })?;
            let store = Arc::new(store);
            (store.clone(), store)
        }
        StoreKind::Dynamodb => {
            let endpoint = args.dynamodb_endpoint.clone();
            let store = DynamoStore::connect(endpoint.clone(), args.table.clone()).await;
            let feed = DynamoStreamFeed::connect(endpoint, args.table.clone()).await;
            (Arc::new(store), Arc::new(feed))
        }
    })
}

pub async fn create_account_command(
    args: &StorageArgs,
    name: &str,
    city: &str,
    providers: Vec<String>,
) -> Result<(), AnyError> {
    // Checked before the store is opened, so a typo changes nothing anywhere.
    validate_provider_list(&providers)?;
    let keys = load_keys(&args.data_dir)?;
    let store = open_store(args).await?;
    let credentials =
        create_account_with_providers(&store, &keys, name, city, providers, SystemClock.now())
            .await?;
    println!("{}", serde_json::to_string_pretty(&credentials)?);
    Ok(())
}

/// `pixgw account providers`: replaces the account's provider order when `change` is given
/// (empty: back to the deployment's default), then prints the stored order.
pub async fn account_providers_command(
    args: &StorageArgs,
    account: &str,
    change: Option<Vec<String>>,
) -> Result<(), AnyError> {
    let id = AccountId::parse(account)
        .ok_or_else(|| format!("{account:?} is not an account id (acc_ + 32 hex characters)"))?;
    if let Some(providers) = &change {
        validate_provider_list(providers)?;
    }
    let store = open_store(args).await?;
    if let Some(providers) = &change {
        store
            .set_account_providers(&id, providers)
            .await
            .map_err(|e| match e {
                AccountUpdateError::AccountNotFound => format!("account {id} not found"),
                AccountUpdateError::Store(e) => format!("storage: {e}"),
            })?;
    }
    let stored = store
        .get_account(&id)
        .await?
        .ok_or_else(|| format!("account {id} not found"))?;
    let shown = serde_json::json!({"accountId": stored.id, "providers": stored.providers});
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(())
}

pub async fn create_table_command(args: &StorageArgs) -> Result<(), AnyError> {
    if args.store != StoreKind::Dynamodb {
        return Err("table create needs --store dynamodb".into());
    }
    let store = DynamoStore::connect(args.dynamodb_endpoint.clone(), args.table.clone()).await;
    pixgw_store_dynamodb::create_table(store.client(), store.table()).await?;
    println!("table {} is ready", args.table);
    Ok(())
}

/// The demo account of this data dir: created on first start, remembered afterwards so every
/// start prints the same working credentials.
pub async fn demo_account(
    store: &DynStore,
    keys: &AuthKeys,
    data_dir: &Path,
) -> Result<NewAccountCredentials, AnyError> {
    let path = data_dir.join(DEMO_ACCOUNT_FILE);
    if path.exists() {
        private_files::private_file(&path)?;
        let saved: NewAccountCredentials = serde_json::from_slice(&fs::read(&path)?)?;
        if store.find_client(&saved.client_id).await?.is_some() {
            return Ok(saved);
        }
    }
    let credentials =
        create_account(store, keys, "Loja Demo PIX", "SAO PAULO", SystemClock.now()).await?;
    write_private(&path, &serde_json::to_vec_pretty(&credentials)?)?;
    Ok(credentials)
}

// Two attributes, not `all(test, unix)`: clippy recognises test modules by a plain
// `#[cfg(test)]`, and only there lets them unwrap.
#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    }

    fn set_mode(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// What `pixgw serve` does with its data dir before serving: keys, store, demo account.
    async fn start_like_serve(data_dir: &Path) -> NewAccountCredentials {
        let args = StorageArgs {
            data_dir: data_dir.to_path_buf(),
            store: StoreKind::Embedded,
            table: "unused".into(),
            dynamodb_endpoint: None,
        };
        let keys = load_keys(data_dir).expect("keys");
        let store = open_store(&args).await.expect("store");
        demo_account(&store, &keys, data_dir).await.expect("demo")
    }

    fn private_paths(data_dir: &Path) -> Vec<(PathBuf, u32)> {
        vec![
            (data_dir.to_path_buf(), 0o700),
            (data_dir.join(pixgw_store_embedded::FILE_NAME), 0o600),
            (data_dir.join(SECRETS_FILE), 0o600),
            (data_dir.join(DEMO_ACCOUNT_FILE), 0o600),
        ]
    }

    #[tokio::test]
    async fn the_data_dir_and_its_files_are_private_and_tightened_on_start() {
        let root = tempfile::TempDir::new().expect("temp dir");
        let data_dir = root.path().join("data");
        let first = start_like_serve(&data_dir).await;
        for (path, expected) in private_paths(&data_dir) {
            assert_eq!(mode(&path), expected, "{} when created", path.display());
        }

        // Left readable by others (an older version, a copy, a chmod): tightened on the
        // next start, contents kept.
        for (path, _) in private_paths(&data_dir) {
            set_mode(&path, if path.is_dir() { 0o755 } else { 0o644 });
        }
        let again = start_like_serve(&data_dir).await;
        assert_eq!(again.client_id, first.client_id, "same demo account");
        for (path, expected) in private_paths(&data_dir) {
            assert_eq!(mode(&path), expected, "{} after a restart", path.display());
        }
    }

    #[test]
    fn rewriting_a_loose_file_tightens_it_first() {
        let root = tempfile::TempDir::new().expect("temp dir");
        let path = root.path().join("f.json");
        fs::write(&path, b"old").expect("write");
        set_mode(&path, 0o644);
        write_private(&path, b"new").expect("write_private");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read(&path).expect("read"), b"new");
    }
}

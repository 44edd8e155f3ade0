//! `pixgw`: the whole gateway on one machine, standing in for API Gateway + Lambda.
//!
//! ```text
//! pixgw [serve] [--port 3000] [--data-dir .pixgw] [--store embedded|dynamodb]
//!              [--scheduler-interval 5] [--shutdown-grace 15]
//! pixgw account create --name NAME [--city CITY] [--providers connectpsp,pagfast]
//! pixgw account providers --account ID [--set connectpsp,pagfast | --clear]
//! pixgw table create --store dynamodb          (DynamoDB Local by hand)
//! ```

mod config;
mod quickstart;
mod server;
mod workers;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "pixgw",
    version,
    about = "PIX gateway with marketplace splits — local gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway (the default command).
    Serve(ServeArgs),
    /// Manage merchant accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Manage the DynamoDB table (for --store dynamodb).
    Table {
        #[command(subcommand)]
        command: TableCommand,
    },
}

#[derive(Subcommand, Debug)]
enum AccountCommand {
    /// Create an account; prints {accountId, clientId, clientSecret, cryptoToken} as JSON.
    Create {
        #[arg(long)]
        name: String,
        /// City shown in PIX codes (BR Code field 60).
        #[arg(long, default_value = "SAO PAULO")]
        city: String,
        /// The account's PIX providers in failover order (sandbox, connectpsp, pagfast);
        /// omitted: the deployment's default order.
        #[arg(long, value_delimiter = ',', num_args = 1)]
        providers: Vec<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Show or change an account's PIX provider order; prints {accountId, providers} as JSON
    /// (an empty list means the deployment's default order).
    Providers {
        #[arg(long)]
        account: String,
        /// The new order, e.g. `connectpsp,pagfast` (new charges go to the first that is up).
        #[arg(long, value_delimiter = ',', num_args = 1, conflicts_with = "clear")]
        set: Option<Vec<String>>,
        /// Go back to the deployment's default order.
        #[arg(long)]
        clear: bool,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Subcommand, Debug)]
enum TableCommand {
    /// Create the single table (and its indexes) if it does not exist.
    Create {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// Port on 127.0.0.1.
    #[arg(long, env = "PIXGW_PORT", default_value_t = 3000)]
    port: u16,
    /// Host written into sandbox BR Codes (field 26-25); defaults to 127.0.0.1:<port>. When
    /// given, real providers send webhooks to https://<host>/webhooks/provider/<name>.
    #[arg(long, env = "PIXGW_PUBLIC_HOST")]
    public_host: Option<String>,
    /// PIX providers in failover order: sandbox, connectpsp, pagfast (comma-separated). Real
    /// providers read their settings from CONNECTPSP_* / PAGFAST_* (see the README).
    #[arg(long, env = "PIXGW_PROVIDERS", default_value = "sandbox")]
    providers: String,
    /// Seconds between two ticks of the payout scheduler (it pays the accounts whose payout
    /// window has come, on the sandbox clock) and of the charge-expiry sweeper (it stores
    /// EXPIRED the charges whose expirationDate has come).
    #[arg(
        long,
        env = "PIXGW_SCHEDULER_INTERVAL",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    scheduler_interval: u64,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) waits for requests in flight and the messages in
    /// hand to finish before the process exits; what is cut is delivered again at next start.
    #[arg(
        long,
        env = "PIXGW_SHUTDOWN_GRACE",
        default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(1..=600)
    )]
    shutdown_grace: u64,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Args, Debug, Clone)]
pub struct StorageArgs {
    /// Where the embedded store and the gateway's secrets live.
    #[arg(long, env = "PIXGW_DATA_DIR", default_value = ".pixgw")]
    data_dir: PathBuf,
    #[arg(long, env = "PIXGW_STORE", value_enum, default_value_t = StoreKind::Embedded)]
    store: StoreKind,
    /// DynamoDB table (with --store dynamodb).
    #[arg(long, env = "PIXGW_TABLE", default_value = "pixgw")]
    table: String,
    /// DynamoDB endpoint, e.g. http://127.0.0.1:8000 for DynamoDB Local.
    #[arg(long, env = "DYNAMODB_ENDPOINT")]
    dynamodb_endpoint: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Embedded,
    Dynamodb,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => server::serve(cli.serve).await,
        Some(Command::Serve(args)) => server::serve(args).await,
        Some(Command::Account {
            command:
                AccountCommand::Create {
                    name,
                    city,
                    providers,
                    storage,
                },
        }) => config::create_account_command(&storage, &name, &city, providers).await,
        Some(Command::Account {
            command:
                AccountCommand::Providers {
                    account,
                    set,
                    clear,
                    storage,
                },
        }) => {
            let change = match (set, clear) {
                (Some(list), _) => Some(list),
                (None, true) => Some(Vec::new()),
                (None, false) => None,
            };
            config::account_providers_command(&storage, &account, change).await
        }
        Some(Command::Table {
            command: TableCommand::Create { storage },
        }) => config::create_table_command(&storage).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pixgw: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

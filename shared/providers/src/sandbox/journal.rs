//! The sandbox network's memory on disk (local gateway only): one JSON line per transfer or
//! refund it decided, written and synced before the outcome is answered, and one per MED
//! infraction it opened or decided and per cautelar hold it released or returned (so a
//! restarted gateway's sandbox still answers a repeated decision or hold ending with the first
//! one).
//!
//! A real PSP remembers idempotency keys across *our* restarts. Without this file a gateway
//! killed between a transfer and storing its outcome would, on restart, ask a sandbox that had
//! forgotten the key, and the simulated network would send the money a second time: exactly
//! the double payment production is protected from, hidden from the crash tests. The file is
//! also what those tests count ("one transfer per payout and cash-out").
//!
//! A line cut short by a crash (the last one) was never answered, so it is ignored.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use pixgw_domain::dispute::{DevolutionNature, DisputeOutcome, DisputeReason};
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, Ispb};
use pixgw_domain::pix::pii::Pii;
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::provider::{RefundOutcome, TransferDestination, TransferOutcome};
use serde::{Deserialize, Serialize};

use super::network::{
    SandboxHoldEnding, SandboxHoldOutcome, SandboxInfractionDecision, SandboxOpenedInfraction,
    SandboxRefund, SandboxTransfer,
};

/// One decided movement, as written.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JournalEntry {
    #[serde(rename_all = "camelCase")]
    Transfer {
        idempotency_key: String,
        amount_cents: i64,
        destination: Destination,
        outcome: Outcome,
    },
    #[serde(rename_all = "camelCase")]
    Refund {
        idempotency_key: String,
        amount_cents: i64,
        original_end_to_end_id: EndToEndId,
        outcome: Outcome,
    },
    #[serde(rename_all = "camelCase")]
    InfractionOpened {
        event_id: String,
        infraction_id: String,
        transaction_id: String,
        reason: DisputeReason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        amount_cents: Option<i64>,
        respond_by: DateTime<Utc>,
        opened_at: DateTime<Utc>,
    },
    #[serde(rename_all = "camelCase")]
    InfractionDecided {
        event_id: String,
        infraction_id: String,
        transaction_id: String,
        outcome: DisputeOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end_to_end_id: Option<EndToEndId>,
        decided_at: DateTime<Utc>,
    },
    #[serde(rename_all = "camelCase")]
    HoldReleased {
        event_id: String,
        transaction_id: String,
        released_at: DateTime<Utc>,
    },
    #[serde(rename_all = "camelCase")]
    HoldReturned {
        event_id: String,
        transaction_id: String,
        /// [`DevolutionNature::as_str`].
        nature: String,
        end_to_end_id: EndToEndId,
        returned_at: DateTime<Utc>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Destination {
    #[serde(rename_all = "camelCase")]
    PixKey { key: Pii, key_type: PixKeyType },
    #[serde(rename_all = "camelCase")]
    BankAccount {
        ispb: String,
        branch: Pii,
        account: Pii,
        account_type: String,
    },
}

/// A transfer's or refund's outcome (`end_to_end_id` absent on failures).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    #[serde(rename_all = "camelCase")]
    Completed {
        provider_id: String,
        end_to_end_id: EndToEndId,
        settled_at: DateTime<Utc>,
    },
    #[serde(rename_all = "camelCase")]
    Failed {
        provider_id: Option<String>,
        reason: String,
    },
    #[serde(rename_all = "camelCase")]
    Pending {
        provider_id: String,
        end_to_end_id: Option<EndToEndId>,
    },
}

impl JournalEntry {
    pub(crate) fn transfer(t: &SandboxTransfer) -> JournalEntry {
        let destination = match &t.destination {
            TransferDestination::PixKey { key, key_type } => Destination::PixKey {
                key: key.clone(),
                key_type: *key_type,
            },
            TransferDestination::BankAccount {
                ispb,
                branch,
                account,
                account_type,
            } => Destination::BankAccount {
                ispb: ispb.as_str().to_owned(),
                branch: branch.clone(),
                account: account.clone(),
                account_type: account_type.clone(),
            },
        };
        let outcome = match &t.outcome {
            TransferOutcome::Completed {
                provider_transfer_id,
                end_to_end_id,
                settled_at,
            } => Outcome::Completed {
                provider_id: provider_transfer_id.clone(),
                end_to_end_id: end_to_end_id.clone(),
                settled_at: *settled_at,
            },
            TransferOutcome::Failed {
                provider_transfer_id,
                reason,
            } => Outcome::Failed {
                provider_id: provider_transfer_id.clone(),
                reason: reason.clone(),
            },
            TransferOutcome::Pending {
                provider_transfer_id,
            } => Outcome::Pending {
                provider_id: provider_transfer_id.clone(),
                end_to_end_id: None,
            },
        };
        JournalEntry::Transfer {
            idempotency_key: t.idempotency_key.clone(),
            amount_cents: t.amount.cents(),
            destination,
            outcome,
        }
    }

    pub(crate) fn refund(r: &SandboxRefund) -> JournalEntry {
        let outcome = match &r.outcome {
            RefundOutcome::Completed {
                provider_refund_id,
                end_to_end_id,
                settled_at,
            } => Outcome::Completed {
                provider_id: provider_refund_id.clone(),
                end_to_end_id: end_to_end_id.clone(),
                settled_at: *settled_at,
            },
            RefundOutcome::Failed { reason } => Outcome::Failed {
                provider_id: None,
                reason: reason.clone(),
            },
            RefundOutcome::Pending {
                provider_refund_id,
                end_to_end_id,
            } => Outcome::Pending {
                provider_id: provider_refund_id.clone(),
                end_to_end_id: Some(end_to_end_id.clone()),
            },
        };
        JournalEntry::Refund {
            idempotency_key: r.idempotency_key.clone(),
            amount_cents: r.amount.cents(),
            original_end_to_end_id: r.original_end_to_end_id.clone(),
            outcome,
        }
    }
}

impl JournalEntry {
    pub(crate) fn infraction_opened(i: &SandboxOpenedInfraction) -> JournalEntry {
        JournalEntry::InfractionOpened {
            event_id: i.event_id.clone(),
            infraction_id: i.infraction_id.clone(),
            transaction_id: i.transaction_id.as_str().to_owned(),
            reason: i.reason,
            amount_cents: i.amount.map(Money::cents),
            respond_by: i.respond_by,
            opened_at: i.opened_at,
        }
    }

    pub(crate) fn infraction_decided(d: &SandboxInfractionDecision) -> JournalEntry {
        JournalEntry::InfractionDecided {
            event_id: d.event_id.clone(),
            infraction_id: d.infraction_id.clone(),
            transaction_id: d.transaction_id.as_str().to_owned(),
            outcome: d.outcome,
            end_to_end_id: d.end_to_end_id.clone(),
            decided_at: d.decided_at,
        }
    }
}

impl JournalEntry {
    pub(crate) fn hold_ended(h: &SandboxHoldEnding) -> JournalEntry {
        match &h.outcome {
            SandboxHoldOutcome::Released => JournalEntry::HoldReleased {
                event_id: h.event_id.clone(),
                transaction_id: h.transaction_id.as_str().to_owned(),
                released_at: h.ended_at,
            },
            SandboxHoldOutcome::Returned {
                nature,
                end_to_end_id,
            } => JournalEntry::HoldReturned {
                event_id: h.event_id.clone(),
                transaction_id: h.transaction_id.as_str().to_owned(),
                nature: nature.as_str().to_owned(),
                end_to_end_id: end_to_end_id.clone(),
                returned_at: h.ended_at,
            },
        }
    }
}

/// What a journal line restores.
pub(crate) enum Restored {
    Transfer(SandboxTransfer),
    Refund(SandboxRefund),
    InfractionOpened(SandboxOpenedInfraction),
    InfractionDecided(SandboxInfractionDecision),
    HoldEnded(SandboxHoldEnding),
}

impl Restored {
    fn from_entry(entry: JournalEntry) -> Option<Restored> {
        Some(match entry {
            JournalEntry::Transfer {
                idempotency_key,
                amount_cents,
                destination,
                outcome,
            } => Restored::Transfer(SandboxTransfer {
                idempotency_key,
                amount: Money::from_cents(amount_cents),
                destination: match destination {
                    Destination::PixKey { key, key_type } => {
                        TransferDestination::PixKey { key, key_type }
                    }
                    Destination::BankAccount {
                        ispb,
                        branch,
                        account,
                        account_type,
                    } => TransferDestination::BankAccount {
                        ispb: Ispb::parse(&ispb)?,
                        branch,
                        account,
                        account_type,
                    },
                },
                outcome: match outcome {
                    Outcome::Completed {
                        provider_id,
                        end_to_end_id,
                        settled_at,
                    } => TransferOutcome::Completed {
                        provider_transfer_id: provider_id,
                        end_to_end_id,
                        settled_at,
                    },
                    Outcome::Failed {
                        provider_id,
                        reason,
                    } => TransferOutcome::Failed {
                        provider_transfer_id: provider_id,
                        reason,
                    },
                    Outcome::Pending { provider_id, .. } => TransferOutcome::Pending {
                        provider_transfer_id: provider_id,
                    },
                },
            }),
            JournalEntry::Refund {
                idempotency_key,
                amount_cents,
                original_end_to_end_id,
                outcome,
            } => Restored::Refund(SandboxRefund {
                idempotency_key,
                amount: Money::from_cents(amount_cents),
                original_end_to_end_id,
                outcome: match outcome {
                    Outcome::Completed {
                        provider_id,
                        end_to_end_id,
                        settled_at,
                    } => RefundOutcome::Completed {
                        provider_refund_id: provider_id,
                        end_to_end_id,
                        settled_at,
                    },
                    Outcome::Failed { reason, .. } => RefundOutcome::Failed { reason },
                    Outcome::Pending {
                        provider_id,
                        end_to_end_id,
                    } => RefundOutcome::Pending {
                        provider_refund_id: provider_id,
                        end_to_end_id: end_to_end_id?,
                    },
                },
            }),
            JournalEntry::InfractionOpened {
                event_id,
                infraction_id,
                transaction_id,
                reason,
                amount_cents,
                respond_by,
                opened_at,
            } => Restored::InfractionOpened(SandboxOpenedInfraction {
                event_id,
                infraction_id,
                transaction_id: TransactionId::parse(&transaction_id)?,
                reason,
                amount: amount_cents.map(Money::from_cents),
                respond_by,
                opened_at,
            }),
            JournalEntry::InfractionDecided {
                event_id,
                infraction_id,
                transaction_id,
                outcome,
                end_to_end_id,
                decided_at,
            } => Restored::InfractionDecided(SandboxInfractionDecision {
                event_id,
                infraction_id,
                transaction_id: TransactionId::parse(&transaction_id)?,
                outcome,
                end_to_end_id,
                decided_at,
            }),
            JournalEntry::HoldReleased {
                event_id,
                transaction_id,
                released_at,
            } => Restored::HoldEnded(SandboxHoldEnding {
                event_id,
                transaction_id: TransactionId::parse(&transaction_id)?,
                outcome: SandboxHoldOutcome::Released,
                ended_at: released_at,
            }),
            JournalEntry::HoldReturned {
                event_id,
                transaction_id,
                nature,
                end_to_end_id,
                returned_at,
            } => Restored::HoldEnded(SandboxHoldEnding {
                event_id,
                transaction_id: TransactionId::parse(&transaction_id)?,
                outcome: SandboxHoldOutcome::Returned {
                    nature: DevolutionNature::parse(&nature)?,
                    end_to_end_id,
                },
                ended_at: returned_at,
            }),
        })
    }
}

/// The open journal file, appended to.
#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
}

impl Journal {
    /// Opens (creating, owner-only) the journal and reads back what it holds.
    pub(crate) fn open(path: &Path) -> std::io::Result<(Journal, Vec<Restored>)> {
        let mut options = OpenOptions::new();
        options.create(true).append(true).read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let restored = bytes
            .split(|&b| b == b'\n')
            // A line cut short by a crash was never answered: nothing to restore.
            .filter_map(|line| serde_json::from_slice::<JournalEntry>(line).ok())
            .filter_map(Restored::from_entry)
            .collect();
        // End a line cut short, so the next entry starts on a line of its own.
        if bytes.last().is_some_and(|&b| b != b'\n') {
            file.write_all(b"\n")?;
            file.sync_data()?;
        }
        Ok((Journal { file }, restored))
    }

    /// Appends one entry and syncs it to disk.
    pub(crate) fn append(&mut self, entry: &JournalEntry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }
}

/// Reads every entry of a journal file (for tests and operators counting what the sandbox
/// network moved).
pub fn read_entries(path: &Path) -> std::io::Result<Vec<JournalEntry>> {
    let file = File::open(path)?;
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        if let Ok(entry) = serde_json::from_str(&line?) {
            out.push(entry);
        }
    }
    Ok(out)
}

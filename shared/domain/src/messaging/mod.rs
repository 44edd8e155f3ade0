//! How work and facts travel: the transactional outbox, the queue port and its messages, the
//! account events (each one also an outbox message for the merchant's webhook), the consumer
//! shape the hosts drive, and the relay from outbox to queues.

pub mod consumer;
pub mod events;
pub mod outbox;
pub mod queue;
pub mod relay;

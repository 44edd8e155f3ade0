//! The value types of PIX at the bottom of the domain: BR Codes, tax documents (CPF/CNPJ), PIX
//! keys, what a payment leaves behind (end-to-end id, payer bank data), money, ids, the clock,
//! personal data that logs mask ([`pii::Pii`]), cursor text, the JSON field readers every input validator shares, and the HMAC-SHA256 every
//! signature uses.

pub mod brcode;
pub mod clock;
pub mod cursor_text;
pub mod document;
pub mod fields;
pub mod hmac;
pub mod ids;
pub mod money;
pub mod payment;
pub mod pii;
pub mod pix_key;

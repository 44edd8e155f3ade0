//! QR code images for BR Codes.
//!
//! The payer scans the image with a banking app; the same string is also shown for
//! "copia e cola". Rendering is kept dull on purpose — black on white, a full quiet zone,
//! integer module sizes — because scanners on cheap phones are the audience.

use std::io::Cursor;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use image::{ImageFormat, Luma};
use qrcode::{EcLevel, QrCode};
use thiserror::Error;

/// Target side of the image in pixels. Modules are scaled by the smallest integer factor that
/// reaches it (blurry, non-integer scaling hurts scanning), so the result is 300 px or a little
/// more.
const TARGET_PX: u32 = 300;

/// Why a QR image could not be produced.
#[derive(Debug, Error)]
pub enum QrError {
    #[error("QR content must not be empty")]
    Empty,
    #[error("content does not fit in a QR code: {0}")]
    Encode(#[source] qrcode::types::QrError),
    #[error("PNG encoding failed: {0}")]
    Png(#[source] image::ImageError),
}

/// Renders `code` as a PNG QR code: error-correction level M, a 4-module quiet zone, about
/// 300×300 px.
///
/// Level M (~15 % recoverable) is what the Banco Central's BR Code manual recommends: it keeps
/// a ~200-character dynamic code at a low QR version (large modules) while surviving smudges
/// and glare.
fn qr_png(code: &str) -> Result<Vec<u8>, QrError> {
    // An empty QR code scans as "nothing" in most apps; producing one would only hide a bug.
    if code.is_empty() {
        return Err(QrError::Empty);
    }
    let qr = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M)
        .map_err(QrError::Encode)?;
    let img = qr
        .render::<Luma<u8>>()
        .quiet_zone(true)
        .min_dimensions(TARGET_PX, TARGET_PX)
        .build();
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(QrError::Png)?;
    Ok(png)
}

/// [`qr_png`] as a `data:` URL (standard base64 with padding), ready for an `<img src>` or a
/// JSON field such as `qr_code_base64`.
pub fn qr_png_data_url(code: &str) -> Result<String, QrError> {
    let png = qr_png(code)?;
    Ok(format!("data:image/png;base64,{}", STANDARD.encode(png)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "data:image/png;base64,";

    /// A BR Code-like string (the shape of a dynamic PIX code, not necessarily a valid CRC) of
    /// roughly `len` characters, so that these tests do not depend on the domain crate's
    /// builder.
    fn brcode_like(len: usize) -> String {
        let mut s =
            String::from("00020101021226910014br.gov.bcb.pix2569pix.example.com/pix/v2/loc/");
        let mut i = 0u32;
        while s.len() < len - 8 {
            // Mixed case, digits and punctuation: forces byte mode like real codes.
            let c = b"0123456789abcdefABCDEF-./*"[(i as usize * 7 + 3) % 26];
            s.push(char::from(c));
            i += 1;
        }
        s.push_str("63041D3D");
        s
    }

    /// Decodes the data URL back to the text in the QR code: base64 → PNG → pixels → rqrr.
    fn decode_data_url(url: &str) -> (rqrr::MetaData, String, (u32, u32)) {
        let b64 = url.strip_prefix(PREFIX).expect("data URL prefix");
        let png = STANDARD.decode(b64).expect("standard base64 with padding");
        let img = image::load_from_memory_with_format(&png, ImageFormat::Png)
            .expect("a PNG")
            .to_luma8();
        let dims = img.dimensions();
        let mut prepared = rqrr::PreparedImage::prepare(img);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1, "exactly one QR code in the image");
        let (meta, content) = grids[0].decode().expect("decodable QR");
        (meta, content, dims)
    }

    fn assert_round_trip(content: &str) {
        let url = qr_png_data_url(content).unwrap();
        let (meta, decoded, (w, h)) = decode_data_url(&url);
        assert_eq!(decoded, content);
        // rqrr reports the raw 2-bit format code: M is 0b00 (L 0b01, Q 0b11, H 0b10).
        assert_eq!(meta.ecc_level, 0, "error correction level M");
        assert_eq!(w, h);
        assert!((TARGET_PX..TARGET_PX * 3 / 2).contains(&w), "size {w}");
    }

    #[test]
    fn round_trips_a_150_char_code() {
        let code = brcode_like(150);
        assert_eq!(code.len(), 150);
        assert_round_trip(&code);
    }

    #[test]
    fn round_trips_a_400_char_code() {
        let code = brcode_like(400);
        assert_eq!(code.len(), 400);
        assert_round_trip(&code);
    }

    #[test]
    fn round_trips_a_real_static_example() {
        assert_round_trip(
            "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D",
        );
    }

    #[test]
    fn png_bytes_are_a_png() {
        let png = qr_png("hello").unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!(img.width(), img.height());
        // Quiet zone: the border is white.
        let luma = img.to_luma8();
        assert!(luma.get_pixel(0, 0).0[0] > 128);
        assert!(luma.get_pixel(img.width() - 1, img.height() - 1).0[0] > 128);
    }

    #[test]
    fn data_url_is_standard_padded_base64_of_the_png() {
        let url = qr_png_data_url("hello").unwrap();
        let b64 = url.strip_prefix(PREFIX).unwrap();
        assert_eq!(b64.len() % 4, 0, "padded");
        assert!(
            b64.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
        );
        assert_eq!(STANDARD.decode(b64).unwrap(), qr_png("hello").unwrap());
    }

    #[test]
    fn errors() {
        assert!(matches!(qr_png(""), Err(QrError::Empty)));
        assert!(matches!(qr_png_data_url(""), Err(QrError::Empty)));
        // Beyond version 40-M byte capacity (2331 bytes).
        let too_long = "x".repeat(3000);
        let err = qr_png(&too_long).unwrap_err();
        assert!(matches!(err, QrError::Encode(_)), "{err:?}");
        assert!(err.to_string().starts_with("content does not fit"));
    }
}

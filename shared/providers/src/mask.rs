//! Provider messages echo the payer's CPF/CNPJ (PagFast: `TaxNumber:50194184190`); whatever we
//! keep of them ends up in logs and in error details, so documents are masked first, the same
//! way for every provider.

/// Replaces every CPF (11 digits) or CNPJ (14 digits), bare or punctuated, that stands alone
/// (not inside a longer id) with a mask. Provider messages echo the payer's document.
pub fn mask_documents(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() || (i > 0 && chars[i - 1].is_alphanumeric()) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // A run of digits and the separators documents are written with.
        let mut end = i;
        while end < chars.len()
            && (chars[end].is_ascii_digit() || matches!(chars[end], '.' | '-' | '/'))
        {
            end += 1;
        }
        // Trailing punctuation ends a sentence rather than the number.
        while end > i && !chars[end - 1].is_ascii_digit() {
            end -= 1;
        }
        let digits = chars[i..end].iter().filter(|c| c.is_ascii_digit()).count();
        let standalone = end >= chars.len() || !chars[end].is_alphanumeric();
        match (digits, standalone) {
            (11, true) => out.push_str("***.***.***-**"),
            (14, true) => out.push_str("**.***.***/****-**"),
            _ => out.extend(&chars[i..end]),
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_masked_but_ids_and_amounts_are_not() {
        assert_eq!(
            mask_documents("payer 12345678909 is restricted"),
            "payer ***.***.***-** is restricted"
        );
        assert_eq!(
            mask_documents("CNPJ 12.345.678/0001-95."),
            "CNPJ **.***.***/****-**."
        );
        assert_eq!(mask_documents("cpf=123.456.789-09"), "cpf=***.***.***-**");
        let e2e = "E00416968202603101827cemeFscF6AG";
        assert_eq!(mask_documents(e2e), e2e);
        assert_eq!(
            mask_documents("amount 150.50 on 2026-03-10"),
            "amount 150.50 on 2026-03-10"
        );
        assert_eq!(mask_documents("x12345678909"), "x12345678909");
    }

    #[test]
    fn pagfast_tax_numbers_are_masked() {
        assert_eq!(
            mask_documents("TaxNumber:50194184190"),
            "TaxNumber:***.***.***-**"
        );
        assert_eq!(mask_documents("11222333000181"), "**.***.***/****-**");
        assert_eq!(mask_documents("order 1234 of 2023"), "order 1234 of 2023");
        assert_eq!(mask_documents(""), "");
    }
}

//! Check digits of VAT and company numbers: a number whose checksum fails
//! is a typo or not a number of that kind, and is not kept.
//!
//! Each function takes the number's characters without the country prefix
//! and without separators, and says whether its check digits hold.

/// Digits of an ASCII string, or `None` when any character is not one.
fn digits(number: &str) -> Option<Vec<u32>> {
    number.chars().map(|c| c.to_digit(10)).collect()
}

/// Sum of digits weighted position by position.
fn weighted(digits: &[u32], weights: &[u32]) -> u32 {
    digits.iter().zip(weights).map(|(d, w)| d * w).sum()
}

/// The Luhn check (SIREN, SIRET, Swedish organisation numbers, Italian
/// VAT numbers).
pub(crate) fn luhn(number: &str) -> bool {
    let Some(digits) = digits(number) else {
        return false;
    };
    if digits.is_empty() {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(index, digit)| {
            if index % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                *digit
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether `number` (without its two-letter prefix) is a valid VAT number
/// of `country`. Countries without a check here are refused: a VAT number
/// is kept only when its check digits hold.
pub(crate) fn vat(country: &str, number: &str) -> bool {
    match country {
        "DE" => vat_de(number),
        "FR" => vat_fr(number),
        "GB" => vat_gb(number),
        "IT" => number.len() == 11 && luhn(number),
        "ES" => vat_es(number),
        "NL" => vat_nl(number),
        "BE" => vat_be(number),
        "AT" => vat_at(number),
        "SE" => number.len() == 12 && number.ends_with("01") && luhn(&number[..10]),
        "DK" => cvr_dk(number),
        "PL" => vat_pl(number),
        "FI" => vat_fi(number),
        "LU" => vat_lu(number),
        "PT" => vat_pt(number),
        _ => false,
    }
}

/// ISO 7064 MOD 11,10 over nine digits.
fn vat_de(number: &str) -> bool {
    let Some(digits) = digits(number) else {
        return false;
    };
    if digits.len() != 9 || digits[0] == 0 {
        return false;
    }
    let mut product = 10;
    for digit in &digits[..8] {
        let mut sum = (digit + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (2 * sum) % 11;
    }
    let check = (11 - product) % 10;
    check == digits[8]
}

/// Two key digits, then the SIREN: key = (12 + 3 × (SIREN mod 97)) mod 97.
/// (Keys with letters, given to a few companies, have no published check
/// and are refused.)
fn vat_fr(number: &str) -> bool {
    if number.len() != 11 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let (key, siren) = number.split_at(2);
    let (Ok(key), Ok(siren_value)) = (key.parse::<u64>(), siren.parse::<u64>()) else {
        return false;
    };
    luhn(siren) && (12 + 3 * (siren_value % 97)) % 97 == key
}

/// Nine digits (a twelve-digit branch number checks its first nine):
/// weights 8..2 and the last two as a number, modulo 97 (or 97 after
/// adding 55, the scheme since 2010).
fn vat_gb(number: &str) -> bool {
    let number = if number.len() == 12 {
        &number[..9]
    } else {
        number
    };
    let Some(digits) = digits(number) else {
        return false;
    };
    if digits.len() != 9 {
        return false;
    }
    let check = digits[7] * 10 + digits[8];
    let total = weighted(&digits[..7], &[8, 7, 6, 5, 4, 3, 2]) + check;
    total.is_multiple_of(97) || (total + 55).is_multiple_of(97)
}

/// Letters of the Spanish DNI/NIE check, by the number modulo 23.
const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// A company's CIF (letter, seven digits, a digit or letter), or a
/// person's DNI (eight digits and a letter) or NIE (X/Y/Z, seven digits
/// and a letter).
fn vat_es(number: &str) -> bool {
    let bytes = number.as_bytes();
    if bytes.len() != 9 {
        return false;
    }
    let body = &number[1..8];
    let last = bytes[8];
    match bytes[0] {
        b'0'..=b'9' => number[..8]
            .parse::<usize>()
            .is_ok_and(|n| DNI_LETTERS[n % 23] == last),
        b'X' | b'Y' | b'Z' => {
            let lead = usize::from(bytes[0] - b'X');
            body.parse::<usize>()
                .is_ok_and(|n| DNI_LETTERS[(lead * 10_000_000 + n) % 23] == last)
        }
        b'A'..=b'H' | b'J' | b'N' | b'P'..=b'S' | b'U'..=b'W' => {
            let Some(digits) = digits(body) else {
                return false;
            };
            let sum: u32 = digits
                .iter()
                .enumerate()
                .map(|(index, digit)| {
                    if index % 2 == 0 {
                        let doubled = digit * 2;
                        doubled / 10 + doubled % 10
                    } else {
                        *digit
                    }
                })
                .sum();
            let control = (10 - sum % 10) % 10;
            #[allow(clippy::cast_possible_truncation)] // control < 10
            let as_digit = b'0' + control as u8;
            let as_letter = b"JABCDEFGHI"[control as usize];
            last == as_digit || last == as_letter
        }
        _ => false,
    }
}

/// Nine digits, `B`, two digits: the eleven-test on the nine digits, or
/// (numbers issued since 2020) ISO 7064 MOD 97-10 over `NL` and the whole.
fn vat_nl(number: &str) -> bool {
    let bytes = number.as_bytes();
    if bytes.len() != 12 || bytes[9] != b'B' {
        return false;
    }
    let Some(digits) = digits(&number[..9]) else {
        return false;
    };
    if !number[10..].bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let eleven = weighted(&digits[..8], &[9, 8, 7, 6, 5, 4, 3, 2]) % 11;
    let old_scheme = eleven != 10 && eleven == digits[8];
    old_scheme || mod97_alphanumeric(&format!("NL{number}")) == 1
}

/// The remainder modulo 97 of a string whose letters count as 10..35.
fn mod97_alphanumeric(text: &str) -> u64 {
    text.chars().fold(0, |remainder, c| match c.to_digit(36) {
        Some(value) if value >= 10 => (remainder * 100 + u64::from(value)) % 97,
        Some(value) => (remainder * 10 + u64::from(value)) % 97,
        None => remainder,
    })
}

/// Ten digits (nine in the older form, read with a leading 0), starting 0
/// or 1: 97 − (first eight mod 97) is the last two.
pub(crate) fn vat_be(number: &str) -> bool {
    let padded;
    let number = if number.len() == 9 {
        padded = format!("0{number}");
        &padded
    } else {
        number
    };
    if number.len() != 10
        || !number.bytes().all(|b| b.is_ascii_digit())
        || !number.starts_with(['0', '1'])
    {
        return false;
    }
    let (Ok(body), Ok(check)) = (number[..8].parse::<u64>(), number[8..].parse::<u64>()) else {
        return false;
    };
    97 - body % 97 == check
}

/// `U` and eight digits.
fn vat_at(number: &str) -> bool {
    let Some(rest) = number.strip_prefix('U') else {
        return false;
    };
    let Some(digits) = digits(rest) else {
        return false;
    };
    if digits.len() != 8 {
        return false;
    }
    let cross = |digit: u32| {
        let doubled = digit * 2;
        doubled / 10 + doubled % 10
    };
    let sum = digits[0]
        + cross(digits[1])
        + digits[2]
        + cross(digits[3])
        + digits[4]
        + cross(digits[5])
        + digits[6];
    (10 - (sum + 4) % 10) % 10 == digits[7]
}

/// The Danish CVR number (also the VAT number): eight digits, weights
/// 2,7,6,5,4,3,2,1, a multiple of 11.
pub(crate) fn cvr_dk(number: &str) -> bool {
    let Some(digits) = digits(number) else {
        return false;
    };
    digits.len() == 8
        && digits[0] != 0
        && weighted(&digits, &[2, 7, 6, 5, 4, 3, 2, 1]).is_multiple_of(11)
}

/// The Polish NIP: ten digits, weights 6,5,7,2,3,4,5,6,7 modulo 11.
fn vat_pl(number: &str) -> bool {
    let Some(digits) = digits(number) else {
        return false;
    };
    if digits.len() != 10 {
        return false;
    }
    let check = weighted(&digits[..9], &[6, 5, 7, 2, 3, 4, 5, 6, 7]) % 11;
    check != 10 && check == digits[9]
}

fn vat_fi(number: &str) -> bool {
    let Some(digits) = digits(number) else {
        return false;
    };
    if digits.len() != 8 {
        return false;
    }
    let remainder = weighted(&digits[..7], &[7, 9, 10, 5, 8, 4, 2]) % 11;
    match remainder {
        0 => digits[7] == 0,
        1 => false,
        r => 11 - r == digits[7],
    }
}

fn vat_lu(number: &str) -> bool {
    if number.len() != 8 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let (Ok(body), Ok(check)) = (number[..6].parse::<u64>(), number[6..].parse::<u64>()) else {
        return false;
    };
    body % 89 == check
}

fn vat_pt(number: &str) -> bool {
    let Some(digits) = digits(number) else {
        return false;
    };
    if digits.len() != 9 {
        return false;
    }
    let check = 11 - weighted(&digits[..8], &[9, 8, 7, 6, 5, 4, 3, 2]) % 11;
    (if check > 9 { 0 } else { check }) == digits[8]
}

/// The Norwegian organisation number: nine digits, weights 3,2,7,6,5,4,3,2.
pub(crate) fn org_nr_no(number: &str) -> bool {
    let Some(digits) = digits(number) else {
        return false;
    };
    if digits.len() != 9 {
        return false;
    }
    let check = 11 - weighted(&digits[..8], &[3, 2, 7, 6, 5, 4, 3, 2]) % 11;
    match check {
        11 => digits[8] == 0,
        10 => false,
        check => check == digits[8],
    }
}

/// The Swiss UID (`CHE-123.456.788`): nine digits, weights 5,4,3,2,7,6,5,4.
pub(crate) fn uid_ch(number: &str) -> bool {
    let Some(digits) = digits(number) else {
        return false;
    };
    if digits.len() != 9 {
        return false;
    }
    let check = 11 - weighted(&digits[..8], &[5, 4, 3, 2, 7, 6, 5, 4]) % 11;
    match check {
        11 => digits[8] == 0,
        10 => false,
        check => check == digits[8],
    }
}

/// The Australian Business Number: eleven digits, the first less one,
/// weights 10,1,3,...,19, a multiple of 89.
pub(crate) fn abn_au(number: &str) -> bool {
    let Some(mut digits) = digits(number) else {
        return false;
    };
    if digits.len() != 11 || digits[0] == 0 {
        return false;
    }
    digits[0] -= 1;
    weighted(&digits, &[10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19]).is_multiple_of(89)
}

#[cfg(test)]
mod tests;

use super::*;

#[test]
fn generated_codes_round_trip_and_read_well() {
    for bits in [0u64, 1, u64::MAX, 0x0123_4567_89ab_cdef, 0x7f_ffff_ffff_ffff] {
        let code = TrackingCode::from_random(bits);
        let shown = code.to_string();
        assert_eq!(shown.len(), 14);
        assert_eq!(&shown[4..5], "-");
        assert!(!shown.contains(['I', 'L', 'O', 'U']));
        assert_eq!(TrackingCode::parse(&shown), Ok(code));
        assert_eq!(TrackingCode::parse(&shown.to_lowercase()), Ok(code));
        assert_eq!(TrackingCode::parse(&shown.replace('-', " ")), Ok(code));
    }
}

#[test]
fn fifty_five_random_bits_are_kept() {
    let a = TrackingCode::from_random(1 << 54);
    let b = TrackingCode::from_random(0);
    assert_ne!(a, b);
}

#[test]
fn every_single_character_error_is_detected() {
    let code = TrackingCode::from_random(0x1234_5678_9abc_def0).compact().to_owned();
    for pos in 0..LEN {
        for &replacement in ALPHABET {
            let mut typed = code.clone().into_bytes();
            if typed[pos] == replacement {
                continue;
            }
            typed[pos] = replacement;
            let typed = String::from_utf8(typed).unwrap();
            assert_eq!(TrackingCode::parse(&typed), Err(TrackingCodeError::Check), "{typed}");
        }
    }
}

#[test]
fn most_adjacent_transpositions_are_detected() {
    let mut detected = 0;
    let mut total = 0;
    for seed in 0..200u64 {
        let code = TrackingCode::from_random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let chars: Vec<u8> = code.compact().bytes().collect();
        for i in 0..LEN - 1 {
            if chars[i] == chars[i + 1] {
                continue;
            }
            let mut swapped = chars.clone();
            swapped.swap(i, i + 1);
            total += 1;
            if TrackingCode::parse(std::str::from_utf8(&swapped).unwrap()).is_err() {
                detected += 1;
            }
        }
    }
    assert!(detected * 100 / total >= 95, "{detected}/{total}");
}

#[test]
fn look_alike_letters_are_read_as_digits() {
    let code = TrackingCode::from_random(0);
    assert_eq!(code.compact(), "000000000000");
    assert_eq!(TrackingCode::parse("OOOO-oooo-0000"), Ok(code));
    let one = TrackingCode::from_random(1).to_string();
    assert_eq!(TrackingCode::parse(&one.replace('1', "l")), Ok(TrackingCode::from_random(1)));
}

#[test]
fn malformed_input_is_told_apart() {
    assert_eq!(TrackingCode::parse(""), Err(TrackingCodeError::Length));
    assert_eq!(TrackingCode::parse("ABCD-EFGH-JKM"), Err(TrackingCodeError::Length));
    assert_eq!(TrackingCode::parse("ABCD-EFGH-JKMNP"), Err(TrackingCodeError::Length));
    assert_eq!(TrackingCode::parse("ABCD-EFGH-JKU1"), Err(TrackingCodeError::Character));
    assert_eq!(TrackingCode::parse("ABCD-ÉFGH-JKM1"), Err(TrackingCodeError::Character));
}

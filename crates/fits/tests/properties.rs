//! Property tests: write-then-read is the identity; header cards round-trip.

use eloy_fits::{Card, Header, Precision, Reader, Value, WriteOptions, read, write};
use ndarray::Array2;
use proptest::prelude::*;

fn any_pixel() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => any::<f32>(),
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(0.0f32),
        1 => Just(-0.0f32),
        1 => Just(f32::MIN_POSITIVE / 4.0),
    ]
}

/// Equal bit for bit (any NaN matches any NaN).
fn same(a: f32, b: f32) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any f32 image, written as f32 or f64, reads back bit for bit (NaN as NaN),
    /// whole or by any band height.
    #[test]
    fn write_then_read_is_identity(
        rows in 1usize..40,
        cols in 1usize..40,
        seed in proptest::collection::vec(any_pixel(), 1..200),
        band in 1usize..40,
        f64_out in any::<bool>(),
    ) {
        let data = Array2::from_shape_fn((rows, cols), |(r, c)| seed[(r * cols + c) % seed.len()]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.fits");
        let options = WriteOptions {
            precision: if f64_out { Precision::F64 } else { Precision::F32 },
            sync: false,
            ..Default::default()
        };
        write(&path, data.view(), &Header::new(), &options).unwrap();
        let back = read(&path).unwrap();
        prop_assert_eq!(back.data.dim(), (rows, cols));
        for (a, b) in data.iter().zip(back.data.iter()) {
            prop_assert!(same(*a, *b), "{} != {}", a, b);
        }
        let mut reader = Reader::open(&path).unwrap();
        let mut start = 0;
        while start < rows {
            let end = (start + band).min(rows);
            let mut buf = vec![0.0; (end - start) * cols];
            reader.read_rows(start..end, &mut buf).unwrap();
            for (i, v) in buf.iter().enumerate() {
                prop_assert!(same(data[[start + i / cols, i % cols]], *v));
            }
            start = end;
        }
    }

    /// String values of any printable ASCII survive a card, and long ones a CONTINUE chain.
    #[test]
    fn string_values_round_trip(text in "[ -~]{0,200}", key in "[A-Z][A-Z0-9_-]{0,7}") {
        prop_assume!(!["COMMENT", "HISTORY", "CONTINUE", "END"].contains(&key.as_str()));
        let mut header = Header::new();
        header.set(&key, text.as_str(), "a comment");
        // FITS strings lose trailing blanks (standard 4.2.1.1).
        prop_assert_eq!(header.get::<String>(&key), Some(text.trim_end().to_owned()));
    }

    /// Reals and integers survive formatting into a card.
    #[test]
    fn numbers_round_trip(x in any::<f64>().prop_filter("finite", |x| x.is_finite()), i in any::<i64>()) {
        prop_assert_eq!(Card::new("X", x, "").value(), Some(Value::Real(x)));
        prop_assert_eq!(Card::new("I", i, "").value(), Some(Value::Integer(i)));
    }

    /// Parsing never panics on arbitrary 80-byte cards.
    #[test]
    fn parsing_arbitrary_cards_does_not_panic(raw in "[ -~]{0,80}") {
        let card = Card::from_raw(&raw);
        let _ = (card.keyword(), card.value(), card.comment(), card.text());
        let header = Header::parse(&raw);
        let _ = header.get::<f64>("EXPTIME");
    }
}

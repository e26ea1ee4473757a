//! The names Keras' saving code gives what it writes (`keras/src/saving/saving_lib.py`,
//! `keras/src/utils/naming.py`): group names of layers and containers, the walk order of
//! attributes, and the numbering of variables. The weight reader finds groups by them.

use std::collections::HashMap;

use crate::text::clip;

/// Python's `keras.src.utils.naming.to_snake_case`:
/// `re.sub(r"\W+", "", name)`, then `(.)([A-Z][a-z]+)` -> `\1_\2`,
/// then `([a-z])([A-Z])` -> `\1_\2`, then `.lower()`.
pub(crate) fn to_snake_case(name: &str) -> String {
    let s: Vec<char> = name
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // Pass 1: non-overlapping, leftmost matches of (.)([A-Z][a-z]+).
    let mut p1: Vec<char> = Vec::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < s.len() {
        let mut lowers = 0;
        if i + 2 < s.len() && s[i + 1].is_ascii_uppercase() {
            while i + 2 + lowers < s.len() && s[i + 2 + lowers].is_ascii_lowercase() {
                lowers += 1;
            }
        }
        if lowers > 0 {
            p1.push(s[i]);
            p1.push('_');
            p1.extend_from_slice(&s[i + 1..i + 2 + lowers]);
            i += 2 + lowers;
        } else {
            p1.push(s[i]);
            i += 1;
        }
    }
    // Pass 2: non-overlapping ([a-z])([A-Z]).
    let mut p2 = String::with_capacity(p1.len() + 8);
    let mut i = 0;
    while i < p1.len() {
        if i + 1 < p1.len() && p1[i].is_ascii_lowercase() && p1[i + 1].is_ascii_uppercase() {
            p2.push(p1[i]);
            p2.push('_');
            p2.push(p1[i + 1]);
            i += 2;
        } else {
            p2.push(p1[i]);
            i += 1;
        }
    }
    p2.to_lowercase()
}

/// `saving_lib._get_unique_name`.
pub(crate) fn unique_name(base: String, used: &mut HashMap<String, usize>) -> String {
    match used.get_mut(&base) {
        Some(n) => {
            *n += 1;
            format!("{base}_{n}")
        }
        None => {
            used.insert(base.clone(), 0);
            base
        }
    }
}

/// The names `_save_container_state` gives the elements of a list of these classes.
pub(crate) fn container_names(classes: &[&str]) -> Vec<String> {
    let mut used = HashMap::new();
    classes
        .iter()
        .map(|c| unique_name(to_snake_case(c), &mut used))
        .collect()
}

/// `saving_lib._name_key`: private attributes are visited last.
pub(crate) fn name_key(name: &str) -> String {
    match name.strip_prefix('_') {
        Some(rest) => format!("~{rest}"),
        None => name.to_string(),
    }
}

/// Parse a `vars` member name: Keras writes `str(i)`.
fn var_index(name: &str) -> Option<usize> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if name.len() > 1 && name.starts_with('0') {
        return None;
    }
    name.parse().ok()
}

/// Order `vars` member names numerically (`10` after `2`), requiring exactly `0..n`.
pub(crate) fn sorted_var_names(names: &[String]) -> Result<Vec<(usize, String)>, String> {
    let mut v = Vec::with_capacity(names.len());
    for n in names {
        let Some(i) = var_index(n) else {
            return Err(format!(
                "`{}` is not a variable index (Keras names variables 0, 1, 2, ...)",
                clip(n)
            ));
        };
        v.push((i, n.clone()));
    }
    v.sort();
    for (k, (i, _)) in v.iter().enumerate() {
        if *i != k {
            let numbers: Vec<String> = v.iter().map(|(i, _)| i.to_string()).collect();
            return Err(format!(
                "variables are numbered {}: variable {k} is missing",
                crate::text::list(&numbers)
            ));
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_matches_keras() {
        // Expected values printed by keras.src.utils.naming.to_snake_case (Keras 3.15.1).
        for (name, want) in [
            ("Dense", "dense"),
            ("InputLayer", "input_layer"),
            ("PReLU", "p_re_lu"),
            ("LSTMCell", "lstm_cell"),
            ("Conv2DTranspose", "conv2d_transpose"),
            ("GRU", "gru"),
            ("MultiHeadAttention", "multi_head_attention"),
            ("BatchNormalization", "batch_normalization"),
            ("ReLU", "re_lu"),
            ("HTTPServerXYZ", "http_server_xyz"),
            ("aBC", "a_bc"),
            ("ABCDef", "abc_def"),
            ("Conv1D", "conv1d"),
            ("my.Layer-x", "my_layerx"),
            ("UpSampling2D", "up_sampling2d"),
            ("TFSMLayer", "tfsm_layer"),
            ("ZeroPadding2D", "zero_padding2d"),
            ("Functional", "functional"),
            ("Sequential", "sequential"),
            ("EinsumDense", "einsum_dense"),
            ("aBcD", "a_bc_d"),
            ("X", "x"),
            ("x2Y", "x2y"),
            ("Ab", "ab"),
            ("AB_cD", "ab_c_d"),
        ] {
            assert_eq!(to_snake_case(name), want, "{name}");
        }
    }

    #[test]
    fn unique_names_count_per_base() {
        let mut used = HashMap::new();
        let got: Vec<String> = ["dense", "dense", "conv", "dense", "conv"]
            .iter()
            .map(|b| unique_name(b.to_string(), &mut used))
            .collect();
        assert_eq!(got, ["dense", "dense_1", "conv", "dense_2", "conv_1"]);
    }

    #[test]
    fn vars_sort_numerically() {
        let names: Vec<String> = (0..12).map(|i| i.to_string()).collect();
        let mut shuffled = names.clone();
        shuffled.sort(); // text order: 0 1 10 11 2 3 ...
        assert_eq!(shuffled[2], "10");
        let order = sorted_var_names(&shuffled).unwrap();
        let got: Vec<&str> = order.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(got, names.iter().map(String::as_str).collect::<Vec<_>>());
        let e = sorted_var_names(&["0".into(), "2".into()]).unwrap_err();
        assert!(e.contains("variable 1 is missing"), "{e}");
        assert!(sorted_var_names(&["kernel".into()]).is_err());
        assert!(sorted_var_names(&["01".into()]).is_err());
    }

    #[test]
    fn private_attributes_walk_last() {
        let mut v = vec![
            "_softmax",
            "value_dense",
            "_dropout_layer",
            "key_dense",
            "query_dense",
        ];
        v.sort_by_key(|n| name_key(n));
        assert_eq!(
            v,
            [
                "key_dense",
                "query_dense",
                "value_dense",
                "_dropout_layer",
                "_softmax"
            ]
        );
    }
}

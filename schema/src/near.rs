//! Did-you-mean: the names nearest to one that is not known (a pack ref
//! no registry lists, a configuration key no field reads), by edit
//! distance, so that every suggestion knap makes follows one rule.

/// The largest edit distance still suggested for a name of `len`
/// characters: 1 for short names, up to 3 for long ones.
fn max_distance(len: usize) -> usize {
    (len / 4).clamp(1, 3)
}

/// The names of `known` nearest to `wanted`: a case-insensitive match
/// first, then those within [`max_distance`] (Damerau-Levenshtein, so a
/// swapped pair of letters counts once), nearest first, at most three.
pub fn nearest<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let lower = wanted.to_lowercase();
    let limit = max_distance(lower.chars().count());
    let mut scored: Vec<(usize, &str)> = known
        .into_iter()
        .filter(|k| *k != wanted)
        .filter_map(|k| {
            let d = if k.to_lowercase() == lower {
                0
            } else {
                strsim::damerau_levenshtein(&lower, &k.to_lowercase())
            };
            (d <= limit).then_some((d, k))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, k)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_a_swap_and_another_case_are_near() {
        let known = ["diskwatch", "netwatch", "core", "dns"];
        assert_eq!(nearest("diskwach", known), ["diskwatch"]);
        assert_eq!(nearest("dsikwatch", known), ["diskwatch"]);
        assert_eq!(nearest("Diskwatch", known), ["diskwatch"]);
        assert_eq!(nearest("DNS", known), ["dns"]);
        assert!(nearest("kubernetes", known).is_empty());
        // Short names tolerate one edit only.
        assert_eq!(nearest("cor", known), ["core"]);
        assert!(nearest("cx", known).is_empty());
    }
}

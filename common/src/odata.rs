//! OData literals, the one place a value is quoted into a `$filter` or an alternate key
//! (Graph and ARM alike): at the bottom of `common`, depending on nothing of ours.

/// Quotes a string as an OData literal: `'…'` with every single quote doubled, so a value
/// holding `'` stays one literal and cannot end the filter's string early.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The filter `field eq '<value>'`, the value quoted.
pub fn eq(field: &str, value: &str) -> String {
    format!("{field} eq {}", quote(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_in_values_are_doubled() {
        assert_eq!(quote("AcrPull"), "'AcrPull'");
        assert_eq!(quote("O'Brien"), "'O''Brien'");
        assert_eq!(quote("'"), "''''");
        assert_eq!(quote(""), "''");
        assert_eq!(
            eq("roleName", "x' or roleName eq 'Owner"),
            "roleName eq 'x'' or roleName eq ''Owner'"
        );
    }

    #[test]
    fn a_quoted_value_is_one_literal() {
        // Between the outer quotes every quote comes in pairs: the literal never ends early.
        for v in ["a'b", "''", "x' eq '", "'start", "end'"] {
            let q = quote(v);
            let inner = &q[1..q.len() - 1];
            assert!(inner.replace("''", "").find('\'').is_none(), "{q}");
            assert_eq!(inner.replace("''", "'"), v);
        }
    }
}

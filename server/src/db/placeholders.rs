//! SQLite's placeholders: the queries are written once with PostgreSQL's `$n`, which SQLite
//! reads as *named* parameters — and sqlx binds each one by asking SQLite its name, which
//! SQLite finds by a walk through every name: the square of the parameters a statement has
//! (10 % of a 100,000-row import, and why bulk statements were kept to a few hundred
//! parameters). Anonymous `?`s are bound in order without a name; this turns one into the
//! other, each `$n` outside quoted text into a `?` and its argument, in the order they come.

use super::Value;

/// `sql` with `?` for every `$n`, and the arguments in the order the `?`s take them (an
/// `$n` written twice takes its argument twice). As given if a `$n` names no argument:
/// sqlx then reports it as it would.
pub(super) fn anonymous(sql: String, args: Vec<Value>) -> (String, Vec<Value>) {
    if !sql.contains('$') {
        return (sql, args);
    }
    let mut out = String::with_capacity(sql.len());
    let mut order: Vec<usize> = Vec::with_capacity(args.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match (quote, c) {
            // Inside quotes until the same quote closes them (a doubled one reopens).
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '$') if chars.peek().is_some_and(|(_, d)| d.is_ascii_digit()) => {
                let mut n = 0usize;
                while let Some(&(_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                    n = n
                        .saturating_mul(10)
                        .saturating_add(d as usize - '0' as usize);
                    chars.next();
                }
                if n == 0 || n > args.len() {
                    return (sql, args);
                }
                order.push(n - 1);
                out.push('?');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    let in_order = order.len() == args.len() && order.iter().enumerate().all(|(i, &n)| i == n);
    let args = if in_order {
        args
    } else {
        order.iter().map(|&n| args[n].clone()).collect()
    };
    (out, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::Text(Some(s.to_owned()))
    }

    #[test]
    fn numbered_placeholders_become_anonymous_in_the_order_they_come() {
        let (sql, args) = anonymous(
            "UPDATE t SET a = $2, b = '$1 stays', c = $1 WHERE d = $2 AND e = \"$3\"".into(),
            vec![text("one"), text("two")],
        );
        assert_eq!(
            sql,
            "UPDATE t SET a = ?, b = '$1 stays', c = ? WHERE d = ? AND e = \"$3\""
        );
        assert_eq!(args, vec![text("two"), text("one"), text("two")]);

        let (sql, args) = anonymous(
            "INSERT INTO t VALUES ($1, 'it''s $9', $2), ($3, $4)".into(),
            (1..=4).map(|n| Value::Int(Some(n))).collect(),
        );
        assert_eq!(sql, "INSERT INTO t VALUES (?, 'it''s $9', ?), (?, ?)");
        assert_eq!(
            args,
            (1..=4).map(|n| Value::Int(Some(n))).collect::<Vec<_>>()
        );

        // A placeholder naming no argument is left for sqlx to report.
        let (sql, _) = anonymous("SELECT $3".into(), vec![text("one")]);
        assert_eq!(sql, "SELECT $3");
    }
}

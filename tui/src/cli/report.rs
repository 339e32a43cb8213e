//! `lm report renewals|spend|seats|reclaim|trend [FILTER…]`: the Insights screen's numbers
//! for scripts and terminals — a table to read, `--json` (the `lm_protocol::insights::Report`
//! shapes, stable) or `--csv` (one row per group and currency).

use super::args::parse_query;
use crate::client::DaemonClient;
use anyhow::anyhow;
use lm_protocol::Money;
use lm_protocol::insights::{Report, ReportKind, ReportParams, ReportRequest};
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// renewals, spend, seats, reclaim or trend.
    pub report: String,
    /// Query terms, as for `lm ls`: only the licenses they select.
    pub filter: Vec<String>,
    /// Months the renewal forecast (or the trend) covers, 1 to 36.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Groups of a spend breakdown before "other", 1 to 50.
    #[arg(long, default_value_t = 8)]
    pub top: usize,
    /// Days after which a seat counts as unused (reclaim), 1 to 3650.
    #[arg(long, default_value_t = 30)]
    pub unused_days: u32,
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    #[arg(long)]
    pub csv: bool,
}

impl ReportArgs {
    pub fn to_request(&self, today: chrono::NaiveDate) -> anyhow::Result<ReportRequest> {
        let report: ReportKind = self.report.parse().map_err(|e| anyhow!("{e}"))?;
        let (filter, _) = parse_query(&self.filter, None, today)?;
        let params = ReportParams {
            months: self.months,
            top: self.top,
            unused_days: self.unused_days,
        };
        params
            .check()
            .map_err(|e| anyhow!("--{}: {}", e.field.replace('_', "-"), e.message))?;
        Ok(ReportRequest {
            report,
            filter,
            params,
        })
    }
}

/// `1,200.00 EUR + 300.00 USD`; `—` for nothing. For people: JSON and CSV keep the plain
/// amounts.
pub fn amounts(money: &[Money]) -> String {
    if money.is_empty() {
        return "—".into();
    }
    money
        .iter()
        .map(|m| format!("{} {}", grouped(&m.major()), m.currency))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// `1700691.14` as `1,700,691.14`.
fn grouped(major: &str) -> String {
    let (whole, fraction) = major
        .split_once('.')
        .map_or((major, None), |(w, f)| (w, Some(f)));
    let digits: Vec<char> = whole.chars().collect();
    let mut out = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// One CSV row per group and currency (a group without cost gets one row with none).
fn csv_rows(report: &Report) -> Vec<[String; 5]> {
    let mut rows = Vec::new();
    let mut push = |section: &str, group: String, count: String, cost: &[Money]| {
        if cost.is_empty() {
            rows.push([
                section.into(),
                group.clone(),
                count.clone(),
                String::new(),
                String::new(),
            ]);
        }
        for m in cost {
            rows.push([
                section.into(),
                group.clone(),
                count.clone(),
                m.major(),
                m.currency.to_string(),
            ]);
        }
    };
    match report {
        Report::Renewals(r) => {
            for m in &r.months {
                push(
                    "month",
                    m.month.format("%Y-%m").to_string(),
                    m.licenses.to_string(),
                    &m.cost,
                );
            }
            push(
                "expired",
                "expired".into(),
                r.expired.to_string(),
                &r.expired_cost,
            );
        }
        Report::Spend(s) => {
            push("total", "total".into(), s.licenses.to_string(), &s.total);
            for (section, groups) in [
                ("vendor", &s.by_vendor),
                ("kind", &s.by_kind),
                ("product", &s.by_product),
            ] {
                for g in groups {
                    push(section, g.name.clone(), g.licenses.to_string(), &g.cost);
                }
            }
        }
        Report::Seats(s) => {
            push(
                "overall",
                format!("{}/{}", s.used, s.total),
                s.limited.to_string(),
                &[],
            );
            push(
                "unlimited",
                s.unlimited_used.to_string(),
                s.unlimited.to_string(),
                &[],
            );
            push("over 90%", String::new(), s.full.to_string(), &[]);
            push("under 30%", String::new(), s.idle.to_string(), &[]);
            for u in &s.units {
                push(
                    "unit",
                    format!("{} {}/{}", u.unit, u.taken, u.bought),
                    u.licenses.to_string(),
                    &[],
                );
            }
        }
        Report::Reclaim(r) => {
            for g in &r.groups {
                push(
                    g.kind.as_str(),
                    g.holders.to_string(),
                    g.licenses.to_string(),
                    &g.at_stake,
                );
            }
        }
        Report::Trend(t) => {
            for p in &t.points {
                push("day", p.date.to_string(), String::new(), &p.total);
            }
        }
    }
    rows
}

fn print_table(report: &Report, out: &mut impl Write) -> anyhow::Result<()> {
    match report {
        Report::Renewals(r) => {
            writeln!(out, "{:<9} {:>8}  COST", "MONTH", "LICENSES")?;
            for m in &r.months {
                let marker = if m.current { " (now)" } else { "" };
                writeln!(
                    out,
                    "{:<9} {:>8}  {}{marker}",
                    m.month.format("%Y-%m").to_string(),
                    m.licenses,
                    amounts(&m.cost)
                )?;
            }
            writeln!(
                out,
                "expired, not renewed: {} ({})",
                r.expired,
                amounts(&r.expired_cost)
            )?;
            writeln!(
                out,
                "later: {} · never expire: {} · no cost recorded: {}",
                r.later, r.no_expiry, r.no_cost
            )?;
        }
        Report::Spend(s) => {
            writeln!(
                out,
                "total of {} licenses: {}",
                s.licenses,
                amounts(&s.total)
            )?;
            if s.no_cost > 0 {
                writeln!(out, "{} licenses have no cost recorded", s.no_cost)?;
            }
            for (title, groups) in [
                ("VENDOR", &s.by_vendor),
                ("KIND", &s.by_kind),
                ("PRODUCT", &s.by_product),
            ] {
                writeln!(out, "\n{title:<28} {:>8}  COST", "LICENSES")?;
                for g in groups {
                    writeln!(
                        out,
                        "{:<28} {:>8}  {}",
                        g.name,
                        g.licenses,
                        amounts(&g.cost)
                    )?;
                }
            }
        }
        Report::Seats(s) => {
            let share = (s.used * 100).checked_div(s.total).unwrap_or(0);
            writeln!(
                out,
                "seats in use: {} of {} ({share} %) on {} licenses",
                s.used, s.total, s.limited
            )?;
            writeln!(
                out,
                "without a limit: {} licenses, {} in use",
                s.unlimited, s.unlimited_used
            )?;
            writeln!(
                out,
                "over 90 %: {} licenses · under 30 %: {} licenses",
                s.full, s.idle
            )?;
            for u in &s.fullest {
                writeln!(out, "  full   {:>5}/{:<5} {}", u.used, u.seats, u.name)?;
            }
            for u in &s.emptiest {
                writeln!(out, "  idle   {:>5}/{:<5} {}", u.used, u.seats, u.name)?;
            }
            for u in &s.units {
                writeln!(
                    out,
                    "unit {:<24} {:>6}/{:<6} taken on {} licenses",
                    u.unit, u.taken, u.bought, u.licenses
                )?;
            }
        }
        Report::Reclaim(r) => {
            writeln!(
                out,
                "{:<34} {:>8} {:>8}  AT STAKE",
                "WHAT", "LICENSES", "HOLDERS"
            )?;
            for g in &r.groups {
                writeln!(
                    out,
                    "{:<34} {:>8} {:>8}  {}",
                    g.kind.describe(r.unused_days),
                    g.licenses,
                    g.holders,
                    amounts(&g.at_stake)
                )?;
            }
        }
        Report::Trend(t) => {
            for p in &t.points {
                writeln!(out, "{}  {}", p.date, amounts(&p.total))?;
            }
            writeln!(out, "from {}", t.source)?;
        }
    }
    Ok(())
}

pub async fn run_report(
    client: &DaemonClient,
    args: &ReportArgs,
    today: chrono::NaiveDate,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let request = args.to_request(today)?;
    let report = client.report(request).await?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else if args.csv {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(["section", "group", "licenses", "amount", "currency"])?;
        for row in csv_rows(&report) {
            csv.write_record(row)?;
        }
        csv.flush()?;
    } else {
        print_table(&report, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_are_grouped_by_thousands() {
        let m = |amount, currency: &str| {
            lm_protocol::Money::new(amount, currency.parse().unwrap()).unwrap()
        };
        assert_eq!(
            super::amounts(&[m(170_069_114, "EUR"), m(1200, "JPY"), m(5, "USD")]),
            "1,700,691.14 EUR + 1,200 JPY + 0.05 USD"
        );
        assert_eq!(super::amounts(&[]), "—");
    }
}

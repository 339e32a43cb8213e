//! A sample school for the demo: a school with four classes of students and their teachers,
//! three products, seat licenses bought for classes and for the whole school (one ending
//! soon, one with fewer seats than students), and seats taken by the students who have
//! opened their applications — all through the same store calls the API makes.

use crate::store::{ChangeContext, Result, Store};
use chrono::{Datelike, Days, NaiveDate};
use lm_protocol::hierarchy::{EntityRef, Levels, NewProduct, NewPurchase};

/// What [`school`] made.
#[derive(Debug, Default)]
pub struct SchoolSummary {
    pub people: usize,
    pub licenses: usize,
    pub seats_taken: usize,
}

const CLASSES: [(&str, &str); 4] = [
    ("3a", "Mrs Berg"),
    ("3b", "Mr Okafor"),
    ("4a", "Ms Lindqvist"),
    ("4b", "Mr Haddad"),
];

const FIRST_NAMES: [&str; 22] = [
    "ada", "ben", "chloe", "dev", "elif", "finn", "gia", "hugo", "ines", "jon", "kai", "lena",
    "milo", "nora", "omar", "pia", "quinn", "rosa", "sami", "tara", "uma", "vik",
];

fn entity(kind: &str, eid: &str) -> EntityRef {
    EntityRef {
        kind: kind.parse().expect("a sample type"),
        eid: eid.parse().expect("a sample eid"),
    }
}

/// Builds the school in `ctx.org`.
pub async fn school(store: &Store, ctx: &ChangeContext, today: NaiveDate) -> Result<SchoolSummary> {
    let mut summary = SchoolSummary::default();
    let levels: Levels = [("student", 0), ("teacher", 0), ("class", 1), ("school", 2)]
        .into_iter()
        .map(|(name, level)| (name.parse().expect("a level name"), level))
        .collect();
    store.set_levels(ctx, &levels).await?;
    let school = entity("school", "northside");
    store.put_entity(ctx, &school, "Northside Primary").await?;
    let mut students = Vec::new();
    for (class, teacher) in CLASSES {
        let unit = entity("class", class);
        store
            .put_entity(ctx, &unit, &format!("Class {class}"))
            .await?;
        store.add_membership(ctx, &unit, &school).await?;
        let teacher_eid = teacher.to_lowercase().replace(' ', ".");
        let teacher = (entity("teacher", &teacher_eid), teacher.to_owned());
        for (person, name) in std::iter::once(teacher).chain(FIRST_NAMES.iter().map(|first| {
            let mut title = first.to_string();
            title[..1].make_ascii_uppercase();
            (
                entity("student", &format!("{first}.{class}")),
                format!("{title} ({class})"),
            )
        })) {
            store.put_entity(ctx, &person, &name).await?;
            store.add_membership(ctx, &person, &unit).await?;
            summary.people += 1;
            if person.kind.as_str() == "student" {
                students.push(person.eid.to_string());
            }
        }
    }

    let products = [
        (
            "fractions",
            "Fractions",
            "Exercises in fractions, years 3–4",
            "book:fractions:read",
        ),
        (
            "atlas",
            "World Atlas",
            "The interactive atlas",
            "atlas:read",
        ),
        (
            "typing",
            "Typing Tutor",
            "Ten-finger typing course",
            "full_access",
        ),
    ];
    let mut made = Vec::new();
    for (eid, name, description, permission) in products {
        let product = store
            .create_product(
                ctx,
                NewProduct {
                    eid: eid.parse().expect("a sample product"),
                    name: name.parse().expect("a sample name"),
                    description: Some(description.parse().expect("a sample description")),
                    permissions: vec![permission.parse().expect("a sample permission")],
                },
            )
            .await?;
        made.push(product);
    }
    let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
    let days = |n| today.checked_add_days(Days::new(n)).unwrap_or(today);
    // (product, level, owners, seats, valid_to): the atlas ends soon; typing is short of seats.
    let purchases = [
        (0, "class", vec!["4a", "4b"], 50, days(300)),
        (1, "school", vec!["northside"], 120, days(12)),
        (2, "class", vec!["3a"], 15, days(200)),
    ];
    for (product, level, owners, seats, valid_to) in purchases {
        let purchase = NewPurchase {
            product_eid: made[product].eid.clone(),
            owner_hierarchy_level: level.parse().expect("a level"),
            owner_eids: owners
                .iter()
                .map(|o| o.parse().expect("an owner"))
                .collect(),
            seats,
            valid_from: year_start,
            valid_to,
            hierarchy_provider_url: None,
        };
        store
            .purchase(ctx, "mrs.berg", &purchase, &made[product], None)
            .await?;
        summary.licenses += 1;
    }

    // Two of three students have opened their applications and hold seats.
    for (_, student) in students.iter().enumerate().filter(|(i, _)| i % 3 != 2) {
        let seats = store.user_seats(&ctx.org, student).await?;
        let members = seats.memberships.clone().unwrap_or_default();
        let evaluation = store
            .evaluate_seats(ctx, student, &members, seats, today, true)
            .await?;
        summary.seats_taken += evaluation
            .held
            .iter()
            .filter(|h| h.seat_since.is_some())
            .count();
    }
    // Some have not opened them since the summer: seats to reclaim.
    for student in students.iter().step_by(5) {
        store.backdate_seats(&ctx.org, student, 60).await?;
    }
    Ok(summary)
}

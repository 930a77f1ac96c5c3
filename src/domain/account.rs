//! The account section of a verdict (SPEC-ACCOUNTS): what a client is worth,
//! where it stands with us, whether it is drifting away, and how to handle
//! it. Pure like the rules: merged facts, profile, stage and evaluation date
//! in; no I/O, no clock.
//!
//! Unknown facts are never guessed. A factor, class, churn status or client
//! type that needs an unknown fact says `UNKNOWN` and names it; an unknown
//! fact never establishes BLACK_LIST, VIP or ADEPT.
//!
//! What the engine found is kept as [`Words`]: the numbers and which sentence
//! they go in, not yet text. The text is written when the verdict is stored
//! or sent (once per verdict), so that evaluating a lead builds no strings
//! for its account section; a verdict read back from storage carries the
//! text it was stored with, unchanged.

use std::borrow::Cow;
use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::criteria::Stage;
use super::facts::Facts;
use super::profile::{AccountSettings, Profile};

/// Declares a wire enum: variants with their stable numbers and codes (the
/// SPEC's names), `ALL` in number order, and code and number lookups. Stored
/// and serialised by code.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $number:literal => $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant = $number),+ }

        impl $name {
            /// Every value, in wire-number order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The SPEC's name, e.g. `AT_RISK`.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            pub fn from_code(code: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.code() == code)
            }

            /// The number on the wire.
            pub fn number(self) -> i32 {
                self as i32
            }

            pub fn from_number(number: i32) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.number() == number)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let code = Cow::<str>::deserialize(d)?;
                $name::from_code(&code).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        concat!("unknown ", stringify!($name), " {:?}"),
                        code
                    ))
                })
            }
        }
    };
}

wire_enum!(
    /// Whether a client's value, or one of its factors, could be assessed.
    ValueStatus {
        Assessed = 1 => "ASSESSED",
        Unknown = 2 => "UNKNOWN",
        NotApplicable = 3 => "NOT_APPLICABLE",
    }
);

wire_enum!(
    /// The value tier: A from `tier_a_min_score`, B from `tier_b_min_score`.
    Tier {
        A = 1 => "A",
        B = 2 => "B",
        C = 3 => "C",
    }
);

wire_enum!(
    /// The four factors of a client's value.
    ValueFactor {
        Profit = 1 => "PROFIT",
        Referrals = 2 => "REFERRALS",
        Tenure = 3 => "TENURE",
        CostToServe = 4 => "COST_TO_SERVE",
    }
);

wire_enum!(
    /// Where a client stands with us. Precedence, highest first: BLACK_LIST,
    /// VIP, ADEPT, LOYAL, BUYER, PROSPECT, NEWBIE; UNKNOWN when the ladder's
    /// facts are missing and no higher class is established.
    LifecycleClass {
        Newbie = 1 => "NEWBIE",
        Prospect = 2 => "PROSPECT",
        Buyer = 3 => "BUYER",
        Loyal = 4 => "LOYAL",
        Adept = 5 => "ADEPT",
        Vip = 6 => "VIP",
        BlackList = 7 => "BLACK_LIST",
        Unknown = 8 => "UNKNOWN",
    }
);

wire_enum!(
    /// Whether a client is drifting away through silence.
    ChurnStatus {
        Ok = 1 => "OK",
        AtRisk = 2 => "AT_RISK",
        Unknown = 3 => "UNKNOWN",
        NotApplicable = 4 => "NOT_APPLICABLE",
    }
);

wire_enum!(
    /// The difficult client types of the handling playbook.
    ClientType {
        ControlSeeker = 1 => "CONTROL_SEEKER",
        NoSpec = 2 => "NO_SPEC",
        Indecisive = 3 => "INDECISIVE",
        Urgent = 4 => "URGENT",
        ResultOnly = 5 => "RESULT_ONLY",
        ScopeCreep = 6 => "SCOPE_CREEP",
        HotTempered = 7 => "HOT_TEMPERED",
        DiscountHunter = 8 => "DISCOUNT_HUNTER",
    }
);

wire_enum!(
    /// Whether a client shows a playbook type.
    PlaybookStatus {
        Matched = 1 => "MATCHED",
        NotMatched = 2 => "NOT_MATCHED",
        Unknown = 3 => "UNKNOWN",
    }
);

/// Lifecycle classes in precedence order, highest first.
pub const PRECEDENCE: [LifecycleClass; 7] = [
    LifecycleClass::BlackList,
    LifecycleClass::Vip,
    LifecycleClass::Adept,
    LifecycleClass::Loyal,
    LifecycleClass::Buyer,
    LifecycleClass::Prospect,
    LifecycleClass::Newbie,
];

/// A fact's name as a verdict lists it among missing facts.
pub type FactName = Cow<'static, str>;

/// What a verdict says to a seller: a fixed sentence, one built from the
/// numbers found, or the text a stored verdict was saved with. Equal when
/// the text is equal.
#[derive(Clone, Debug)]
pub enum Words {
    Fixed(&'static str),
    Found(Found),
    Stored(String),
}

impl Words {
    pub fn is_empty(&self) -> bool {
        match self {
            Words::Fixed(s) => s.is_empty(),
            Words::Found(_) => false,
            Words::Stored(s) => s.is_empty(),
        }
    }
}

impl fmt::Display for Words {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Words::Fixed(s) => f.write_str(s),
            Words::Found(found) => found.fmt(f),
            Words::Stored(s) => f.write_str(s),
        }
    }
}

impl PartialEq for Words {
    fn eq(&self, other: &Words) -> bool {
        match (self, other) {
            (Words::Fixed(a), Words::Fixed(b)) => a == b,
            (Words::Stored(a), Words::Stored(b)) => a == b,
            _ => self.to_string() == other.to_string(),
        }
    }
}

impl Serialize for Words {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Words::Stored)
    }
}

/// A measure of the handling playbook, as a seller reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    ProgressRequests,
    Postponements,
    RushRequests,
    ReplyDays,
    OutOfScopeChanges,
    DisrespectfulIncidents,
    DiscountPct,
}

/// The numbers behind a sentence, and which sentence they go in.
#[derive(Clone, Debug, PartialEq)]
pub enum Found {
    /// A fact the rule reads is unknown.
    NotKnown {
        fact: &'static str,
    },
    Profit {
        profit: i64,
        target: i64,
        points: f64,
        weight: i32,
    },
    Referrals {
        count: i32,
        target: i32,
        points: f64,
        weight: i32,
    },
    Tenure {
        months: i32,
        target: i32,
        points: f64,
        weight: i32,
    },
    CostToServe {
        cost: i64,
        profit: i64,
        points: f64,
        weight: i32,
    },
    NoProfit {
        profit: i64,
    },
    Overdue {
        overdue: i64,
        min: i64,
    },
    VipProfit {
        profit: i64,
        min: i64,
    },
    Adept {
        share: f64,
        min: f64,
    },
    Ladder {
        orders: i32,
        months: Option<i32>,
        min_orders: i32,
        min_months: i32,
    },
    NoOrders {
        stage: Stage,
    },
    LadderUnknown {
        orders: i32,
        min_orders: i32,
        min_months: i32,
    },
    Silence {
        days: i32,
        limit: i32,
    },
    InTouch {
        days: i32,
        limit: i32,
    },
    Measured {
        measure: Measure,
        value: f64,
        min: f64,
    },
}

/// US dollars with thousands separators: `$45,000`, `-$1,200`.
struct Usd(i64);

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.unsigned_abs().to_string();
        if self.0 < 0 {
            f.write_str("-")?;
        }
        f.write_str("$")?;
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                f.write_str(",")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// A number with at most two decimals and no trailing zeros: 13.33, 5, 2.5.
struct Num(f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{:.2}", self.0);
        let text = text.trim_end_matches('0').trim_end_matches('.');
        f.write_str(if text == "-0" { "0" } else { text })
    }
}

/// "1 order", "3 orders".
fn plural(n: impl Into<f64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{} {}", Num(n), if n == 1.0 { one } else { many })
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Found::NotKnown { fact } => write!(f, "{fact} is not known yet"),
            Found::Profit {
                profit,
                target,
                points,
                weight,
            } => write!(
                f,
                "gross profit {} against a {} target: {} of {weight} points",
                Usd(profit),
                Usd(target),
                Num(points)
            ),
            Found::Referrals {
                count,
                target,
                points,
                weight,
            } => write!(
                f,
                "{} brought in against a target of {target}: {} of {weight} points",
                plural(count, "client", "clients"),
                Num(points)
            ),
            Found::Tenure {
                months,
                target,
                points,
                weight,
            } => write!(
                f,
                "a client for {} against a target of {target}: {} of {weight} points",
                plural(months, "month", "months"),
                Num(points)
            ),
            Found::CostToServe {
                cost,
                profit,
                points,
                weight,
            } => write!(
                f,
                "cost to serve {} against {} gross profit: {} of {weight} points",
                Usd(cost),
                Usd(profit),
                Num(points)
            ),
            Found::NoProfit { profit } => write!(
                f,
                "gross profit {} is not positive: no points for cost to serve",
                Usd(profit)
            ),
            Found::Overdue { overdue, min } => write!(
                f,
                "{} overdue; {} or more puts a client on the black list",
                Usd(overdue),
                Usd(min)
            ),
            Found::VipProfit { profit, min } => write!(
                f,
                "gross profit {}; {} or more makes a VIP",
                Usd(profit),
                Usd(min)
            ),
            Found::Adept { share, min } => write!(
                f,
                "loyal, and {}% of their spend on what we sell comes to us; {}% makes an adept",
                Num(share * 100.0),
                Num(min * 100.0)
            ),
            Found::Ladder {
                orders,
                months,
                min_orders,
                min_months,
            } => {
                write!(f, "{}", plural(orders, "order", "orders"))?;
                if let Some(months) = months {
                    write!(f, " over {}", plural(months, "month", "months"))?;
                }
                write!(
                    f,
                    "; loyal from {} and {}",
                    plural(min_orders, "order", "orders"),
                    plural(min_months, "month", "months")
                )
            }
            Found::NoOrders { stage } => write!(
                f,
                "no orders yet, at the {} stage",
                stage.code().to_ascii_lowercase()
            ),
            Found::LadderUnknown {
                orders,
                min_orders,
                min_months,
            } => write!(
                f,
                "{}, but first_purchase_date is not known: loyal from {} and {}",
                plural(orders, "order", "orders"),
                plural(min_orders, "order", "orders"),
                plural(min_months, "month", "months")
            ),
            Found::Silence { days, limit } => write!(
                f,
                "no contact for {}; {limit} is the limit",
                plural(days, "day", "days")
            ),
            Found::InTouch { days, limit } => write!(
                f,
                "last contact {} ago; at risk from {limit} days",
                plural(days, "day", "days")
            ),
            Found::Measured {
                measure,
                value,
                min,
            } => {
                let observed = match measure {
                    Measure::ProgressRequests => {
                        format!(
                            "{} a week",
                            plural(value, "progress request", "progress requests")
                        )
                    }
                    Measure::Postponements => {
                        plural(value, "decision postponed", "decisions postponed")
                    }
                    Measure::RushRequests => plural(value, "rush request", "rush requests"),
                    Measure::ReplyDays => {
                        format!("replies take {} (median)", plural(value, "day", "days"))
                    }
                    Measure::OutOfScopeChanges => {
                        plural(value, "out-of-scope change", "out-of-scope changes")
                    }
                    Measure::DisrespectfulIncidents => {
                        plural(value, "disrespectful incident", "disrespectful incidents")
                    }
                    Measure::DiscountPct => format!("{}% discount asked for", Num(value)),
                };
                let min = match measure {
                    Measure::DiscountPct => format!("{}%", Num(min)),
                    _ => Num(min).to_string(),
                };
                write!(f, "{observed}; {min} or more match")
            }
        }
    }
}

/// One factor of a client's value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub factor: ValueFactor,
    pub status: ValueStatus,
    pub weight: i32,
    /// `weight × x`, x clamped to [0, 1]; 0 unless assessed.
    pub points: f64,
    pub evidence: Words,
    pub missing_facts: Vec<FactName>,
}

/// What a client is worth: profit first, then referrals, tenure and a low
/// cost to serve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Value {
    pub status: ValueStatus,
    /// The sum of the points rounded half up; set when assessed.
    pub score: Option<i32>,
    pub tier: Option<Tier>,
    /// The four factors, in `ValueFactor` order.
    pub factors: [Factor; 4],
    /// The missing facts of every factor, each once.
    pub missing_facts: Vec<FactName>,
}

/// Where a client stands with us, and what to do about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub class: LifecycleClass,
    /// The classes that also matched, outranked by `class`, in precedence order.
    pub also_matched: Vec<LifecycleClass>,
    pub evidence: Words,
    pub action: Words,
    /// Unknown facts that could have decided a higher class, or the class.
    pub missing_facts: Vec<FactName>,
    /// The black list disqualified the lead (`black_list_knockout`).
    pub knockout: bool,
}

/// Whether the client is drifting away through silence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Churn {
    pub status: ChurnStatus,
    /// Days from `last_contact_date` to the evaluation date, when known.
    pub days_since_last_contact: Option<i32>,
    pub threshold_days: i32,
    /// At risk, and a client we can least afford to lose: tier A, or LOYAL,
    /// ADEPT or VIP.
    pub urgent: bool,
    pub evidence: Words,
    pub action: Words,
    pub missing_facts: Vec<FactName>,
}

/// One type of the handling playbook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaybookEntry {
    pub client_type: ClientType,
    pub status: PlaybookStatus,
    pub evidence: Words,
    pub advice: Words,
    pub missing_facts: Vec<FactName>,
}

/// The account section of a verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub value: Value,
    pub lifecycle: Lifecycle,
    pub churn: Churn,
    /// The eight client types, in `ClientType` order.
    pub playbook: [PlaybookEntry; 8],
}

impl Account {
    /// Whether the black list disqualifies the lead on its own.
    pub fn knockout(&self) -> bool {
        self.lifecycle.knockout
    }
}

/// The account section of `facts` under `profile` at `stage` on `date`.
pub fn assess(facts: &Facts, profile: &Profile, stage: Stage, date: Date) -> Account {
    let settings = &profile.accounts;
    let tenure = facts
        .first_purchase_date
        .map(|first| tenure_months(first, date));
    let value = value(facts, settings, tenure);
    let lifecycle = lifecycle(facts, settings, stage, tenure);
    let churn = churn(facts, settings, date, &value, &lifecycle);
    Account {
        value,
        lifecycle,
        churn,
        playbook: playbook(facts, profile),
    }
}

// ---------------------------------------------------------------------------
// Dates.

/// Whole months from `first` to `on`: the largest n with `first` + n months
/// (the day clamped to the month's end) on or before `on`; 0 before `first`.
pub fn tenure_months(first: Date, on: Date) -> i32 {
    if on <= first {
        return 0;
    }
    let months = (i32::from(on.year()) - i32::from(first.year())) * 12
        + (i32::from(on.month()) - i32::from(first.month()));
    if add_months(first, months) > on {
        months - 1
    } else {
        months
    }
}

/// `date` plus `months`, the day clamped to the end of the month reached.
pub fn add_months(date: Date, months: i32) -> Date {
    let index = i32::from(date.year()) * 12 + i32::from(date.month()) - 1 + months;
    let (Ok(year), Ok(month)) = (
        i16::try_from(index.div_euclid(12)),
        i8::try_from(index.rem_euclid(12) + 1),
    ) else {
        return date;
    };
    let Ok(first_of_month) = Date::new(year, month, 1) else {
        return date;
    };
    let day = date.day().min(first_of_month.days_in_month());
    Date::new(year, month, day).unwrap_or(date)
}

/// Days from `earlier` to `later`; 0 when `earlier` is not earlier.
pub fn days_between(earlier: Date, later: Date) -> i32 {
    if later <= earlier {
        return 0;
    }
    later
        .since(earlier)
        .map(|span| span.get_days())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Value.

fn missing(names: &[&'static str]) -> Vec<FactName> {
    names.iter().map(|n| Cow::Borrowed(*n)).collect()
}

fn unknown_fact(fact: &'static str) -> Words {
    Words::Found(Found::NotKnown { fact })
}

/// `value / target` clamped to [0, 1].
fn share(value: f64, target: f64) -> f64 {
    (value / target).clamp(0.0, 1.0)
}

fn value(facts: &Facts, s: &AccountSettings, tenure: Option<i32>) -> Value {
    let [w_profit, w_referrals, w_tenure, w_cost] = s.value_weights();
    let factor = |factor, weight| Factor {
        factor,
        status: ValueStatus::Unknown,
        weight,
        points: 0.0,
        evidence: Words::Fixed(""),
        missing_facts: Vec::new(),
    };
    let unknown = |mut f: Factor, names: &[&'static str]| {
        f.evidence = unknown_fact(names[names.len() - 1]);
        f.missing_facts = missing(names);
        f
    };
    let assessed = |mut f: Factor, points: f64, found: Found| {
        f.status = ValueStatus::Assessed;
        f.points = points;
        f.evidence = Words::Found(found);
        f
    };
    if facts.orders_count == Some(0) {
        let not_applicable = |f: ValueFactor, weight| Factor {
            status: ValueStatus::NotApplicable,
            evidence: Words::Fixed("no orders yet: value is assessed once they buy"),
            ..factor(f, weight)
        };
        return Value {
            status: ValueStatus::NotApplicable,
            score: None,
            tier: None,
            factors: [
                not_applicable(ValueFactor::Profit, w_profit),
                not_applicable(ValueFactor::Referrals, w_referrals),
                not_applicable(ValueFactor::Tenure, w_tenure),
                not_applicable(ValueFactor::CostToServe, w_cost),
            ],
            missing_facts: Vec::new(),
        };
    }
    let profit = facts.gross_profit_usd;
    let profit_factor = match profit {
        None => unknown(factor(ValueFactor::Profit, w_profit), &["gross_profit_usd"]),
        Some(p) => {
            let target = s.value_profit_target_usd;
            let points = f64::from(w_profit) * share(p as f64, target as f64);
            let found = Found::Profit {
                profit: p,
                target,
                points,
                weight: w_profit,
            };
            assessed(factor(ValueFactor::Profit, w_profit), points, found)
        }
    };
    let referrals_factor = match facts.referrals_count {
        None => unknown(
            factor(ValueFactor::Referrals, w_referrals),
            &["referrals_count"],
        ),
        Some(count) => {
            let target = s.value_referrals_target;
            let points = f64::from(w_referrals) * share(count.into(), target.into());
            let found = Found::Referrals {
                count,
                target,
                points,
                weight: w_referrals,
            };
            assessed(factor(ValueFactor::Referrals, w_referrals), points, found)
        }
    };
    let tenure_factor = match tenure {
        None => unknown(
            factor(ValueFactor::Tenure, w_tenure),
            &["first_purchase_date"],
        ),
        Some(months) => {
            let target = s.value_tenure_target_months;
            let points = f64::from(w_tenure) * share(months.into(), target.into());
            let found = Found::Tenure {
                months,
                target,
                points,
                weight: w_tenure,
            };
            assessed(factor(ValueFactor::Tenure, w_tenure), points, found)
        }
    };
    let cost_factor = match (facts.cost_to_serve_usd, profit) {
        (_, Some(p)) if p <= 0 => assessed(
            factor(ValueFactor::CostToServe, w_cost),
            0.0,
            Found::NoProfit { profit: p },
        ),
        (Some(cost), Some(p)) => {
            let points = f64::from(w_cost) * (1.0 - cost as f64 / p as f64).clamp(0.0, 1.0);
            let found = Found::CostToServe {
                cost,
                profit: p,
                points,
                weight: w_cost,
            };
            assessed(factor(ValueFactor::CostToServe, w_cost), points, found)
        }
        (None, Some(_)) => unknown(
            factor(ValueFactor::CostToServe, w_cost),
            &["cost_to_serve_usd"],
        ),
        (Some(_), None) => unknown(
            factor(ValueFactor::CostToServe, w_cost),
            &["gross_profit_usd"],
        ),
        (None, None) => unknown(
            factor(ValueFactor::CostToServe, w_cost),
            &["cost_to_serve_usd", "gross_profit_usd"],
        ),
    };
    let factors = [profit_factor, referrals_factor, tenure_factor, cost_factor];
    let mut missing_facts: Vec<FactName> = Vec::new();
    for name in factors.iter().flat_map(|f| &f.missing_facts) {
        if !missing_facts.contains(name) {
            missing_facts.push(name.clone());
        }
    }
    let (status, score, tier) = match profit {
        None => (ValueStatus::Unknown, None, None),
        Some(_) => {
            let score = round_half_up(factors.iter().map(|f| f.points).sum());
            (ValueStatus::Assessed, Some(score), Some(tier(score, s)))
        }
    };
    Value {
        status,
        score,
        tier,
        factors,
        missing_facts,
    }
}

/// Rounds half up; a sum a hair below .5 from floating point still rounds up.
fn round_half_up(points: f64) -> i32 {
    (points + 0.5 + 1e-9).floor() as i32
}

fn tier(score: i32, s: &AccountSettings) -> Tier {
    if score >= s.tier_a_min_score {
        Tier::A
    } else if score >= s.tier_b_min_score {
        Tier::B
    } else {
        Tier::C
    }
}

// ---------------------------------------------------------------------------
// Lifecycle.

/// What one class's rule found.
enum Rung {
    Matched(Words),
    NotMatched,
    Unknown(&'static [&'static str]),
}

/// The lower rungs, which depend on orders and tenure: one class, or the
/// facts that would decide it.
enum Ladder {
    Class(LifecycleClass, Words),
    /// LOYAL, and whether ADEPT matches too.
    Loyal(Words, Rung),
    Unknown(&'static [&'static str], Words),
}

fn lifecycle(facts: &Facts, s: &AccountSettings, stage: Stage, tenure: Option<i32>) -> Lifecycle {
    let black_list = match facts.overdue_receivables_usd {
        None => Rung::Unknown(&["overdue_receivables_usd"]),
        Some(overdue) if overdue >= s.black_list_min_overdue_usd => {
            Rung::Matched(Words::Found(Found::Overdue {
                overdue,
                min: s.black_list_min_overdue_usd,
            }))
        }
        Some(_) => Rung::NotMatched,
    };
    let vip = match (facts.strategic_account, facts.gross_profit_usd) {
        (Some(true), _) => Rung::Matched(Words::Fixed(
            "a strategic account: worth more than its purchases",
        )),
        (_, Some(profit)) if profit >= s.vip_min_gross_profit_usd => {
            Rung::Matched(Words::Found(Found::VipProfit {
                profit,
                min: s.vip_min_gross_profit_usd,
            }))
        }
        (None, None) => Rung::Unknown(&["strategic_account", "gross_profit_usd"]),
        (None, Some(_)) => Rung::Unknown(&["strategic_account"]),
        (Some(false), None) => Rung::Unknown(&["gross_profit_usd"]),
        (Some(false), Some(_)) => Rung::NotMatched,
    };
    let ladder = ladder(facts, s, stage, tenure);

    let mut class = None;
    let mut evidence = Words::Fixed("");
    let mut also_matched = Vec::new();
    let mut missing_facts: Vec<FactName> = Vec::new();
    let mut unknown_words = None;
    let mut consider = |candidate: LifecycleClass, rung: Rung| match rung {
        Rung::Matched(words) if class.is_none() => {
            class = Some(candidate);
            evidence = words;
        }
        Rung::Matched(_) => also_matched.push(candidate),
        Rung::Unknown(names) if class.is_none() => {
            missing_facts.extend(names.iter().map(|n| Cow::Borrowed(*n)));
        }
        Rung::Unknown(_) | Rung::NotMatched => {}
    };
    consider(LifecycleClass::BlackList, black_list);
    consider(LifecycleClass::Vip, vip);
    match ladder {
        Ladder::Loyal(words, adept) => {
            consider(LifecycleClass::Adept, adept);
            consider(LifecycleClass::Loyal, Rung::Matched(words));
        }
        Ladder::Class(ladder_class, words) => consider(ladder_class, Rung::Matched(words)),
        Ladder::Unknown(names, words) => {
            consider(LifecycleClass::Unknown, Rung::Unknown(names));
            unknown_words = Some(words);
        }
    }
    let class = class.unwrap_or_else(|| {
        evidence = unknown_words.unwrap_or(Words::Fixed(""));
        LifecycleClass::Unknown
    });
    Lifecycle {
        class,
        also_matched,
        evidence,
        action: Words::Fixed(class_action(class)),
        missing_facts,
        knockout: class == LifecycleClass::BlackList && s.black_list_knockout,
    }
}

fn ladder(facts: &Facts, s: &AccountSettings, stage: Stage, tenure: Option<i32>) -> Ladder {
    let Some(orders) = facts.orders_count else {
        return Ladder::Unknown(&["orders_count"], unknown_fact("orders_count"));
    };
    if orders == 0 {
        let class = match stage {
            Stage::Identification => LifecycleClass::Newbie,
            _ => LifecycleClass::Prospect,
        };
        return Ladder::Class(class, Words::Found(Found::NoOrders { stage }));
    }
    let (min_orders, min_months) = (s.loyal_min_orders, s.loyal_min_tenure_months);
    let found = |months| {
        Words::Found(Found::Ladder {
            orders,
            months,
            min_orders,
            min_months,
        })
    };
    if orders < min_orders {
        return Ladder::Class(LifecycleClass::Buyer, found(tenure));
    }
    let Some(months) = tenure else {
        let words = Words::Found(Found::LadderUnknown {
            orders,
            min_orders,
            min_months,
        });
        return Ladder::Unknown(&["first_purchase_date"], words);
    };
    if months < min_months {
        return Ladder::Class(LifecycleClass::Buyer, found(tenure));
    }
    let adept = match facts.share_of_wallet {
        None => Rung::Unknown(&["share_of_wallet"]),
        Some(share) if share >= s.adept_min_share_of_wallet => {
            Rung::Matched(Words::Found(Found::Adept {
                share,
                min: s.adept_min_share_of_wallet,
            }))
        }
        Some(_) => Rung::NotMatched,
    };
    Ladder::Loyal(found(tenure), adept)
}

/// What a seller should do with a client of `class` (source 002).
pub fn class_action(class: LifecycleClass) -> &'static str {
    match class {
        LifecycleClass::BlackList => {
            "no new credit or sales until the overdue receivables are paid"
        }
        LifecycleClass::Vip => {
            "top attention: a senior contact, first call on news; trade value for PR"
        }
        LifecycleClass::Adept => "cherish them; ask for referrals",
        LifecycleClass::Loyal => "keep in touch and reward repeat buying",
        LifecycleClass::Buyer => "aim for the third order: that is when buying becomes a habit",
        LifecycleClass::Prospect => "make an offer that fits a need they stated",
        LifecycleClass::Newbie => "tell them who we are and what we do",
        LifecycleClass::Unknown => "record the client's orders_count and first_purchase_date",
    }
}

// ---------------------------------------------------------------------------
// Churn.

/// The action for a client at risk (source 002: 67% of lost clients leave
/// because nobody kept in touch).
pub const CHURN_ACTION: &str = "contact them now (in person if they are a key client), ask how \
     the last purchase went and what they need next, and log the answer";

fn churn(facts: &Facts, s: &AccountSettings, date: Date, value: &Value, life: &Lifecycle) -> Churn {
    let days = facts.last_contact_date.map(|last| days_between(last, date));
    let mut churn = Churn {
        status: ChurnStatus::Unknown,
        days_since_last_contact: days,
        threshold_days: s.churn_contact_gap_days,
        urgent: false,
        evidence: Words::Fixed(""),
        action: Words::Fixed(""),
        missing_facts: Vec::new(),
    };
    match life.class {
        LifecycleClass::Newbie | LifecycleClass::Prospect => {
            churn.status = ChurnStatus::NotApplicable;
            churn.evidence = Words::Fixed("not a client yet: churn applies once they buy");
            return churn;
        }
        LifecycleClass::BlackList => {
            churn.status = ChurnStatus::NotApplicable;
            churn.evidence = Words::Fixed("on the black list: collect what is overdue first");
            return churn;
        }
        _ => {}
    }
    let orders_unknown = facts.orders_count.is_none() && life.class != LifecycleClass::Vip;
    let Some(days) = days.filter(|_| !orders_unknown) else {
        let (names, action): (&[&'static str], _) = match (days.is_none(), orders_unknown) {
            (true, true) => (
                &["last_contact_date", "orders_count"],
                "record the date of the last contact and the order count",
            ),
            (true, false) => (
                &["last_contact_date"],
                "record the date of the last contact",
            ),
            _ => (&["orders_count"], "record the order count"),
        };
        churn.missing_facts = missing(names);
        churn.evidence = unknown_fact(names[0]);
        churn.action = Words::Fixed(action);
        return churn;
    };
    let limit = s.churn_contact_gap_days;
    if days >= limit {
        churn.status = ChurnStatus::AtRisk;
        churn.urgent = value.tier == Some(Tier::A)
            || matches!(
                life.class,
                LifecycleClass::Loyal | LifecycleClass::Adept | LifecycleClass::Vip
            );
        churn.evidence = Words::Found(Found::Silence { days, limit });
        churn.action = Words::Fixed(CHURN_ACTION);
    } else {
        churn.status = ChurnStatus::Ok;
        churn.evidence = Words::Found(Found::InTouch { days, limit });
        churn.action = Words::Fixed("keep in touch before the limit passes");
    }
    churn
}

// ---------------------------------------------------------------------------
// Playbook.

/// The seller's advice for a client type (source 000).
pub fn advice(client_type: ClientType) -> &'static str {
    match client_type {
        ClientType::ControlSeeker => {
            "agree your hours and fixed report dates up front, then keep them"
        }
        ClientType::NoSpec => {
            "send a list of needed inputs and questions; draft the spec and get it signed off \
             before work"
        }
        ClientType::Indecisive => {
            "offer two or three concrete options, recommend one firmly, cite a client they trust"
        }
        ClientType::Urgent => {
            "ask why the rush; propose a real plan with the core first, or a rush fee"
        }
        ClientType::ResultOnly => {
            "ask all questions and get all access at the start; agree check-in times"
        }
        ClientType::ScopeCreep => "scope in writing, say which changes are billed, show each stage",
        ClientType::HotTempered => {
            "let them vent, don't argue; call back calmly later or pass to a colleague"
        }
        ClientType::DiscountHunter => "show the value at the lower price; spell out every term",
    }
}

fn playbook(facts: &Facts, profile: &Profile) -> [PlaybookEntry; 8] {
    let s = &profile.accounts;
    let entry = |client_type, status, evidence, missing_facts| PlaybookEntry {
        client_type,
        status,
        evidence,
        advice: Words::Fixed(advice(client_type)),
        missing_facts,
    };
    let at_least =
        |client_type, fact: &'static str, value: Option<f64>, min: f64, measure| match value {
            None => entry(
                client_type,
                PlaybookStatus::Unknown,
                unknown_fact(fact),
                missing(&[fact]),
            ),
            Some(value) => entry(
                client_type,
                if value >= min {
                    PlaybookStatus::Matched
                } else {
                    PlaybookStatus::NotMatched
                },
                Words::Found(Found::Measured {
                    measure,
                    value,
                    min,
                }),
                Vec::new(),
            ),
        };
    let count = |v: Option<i32>| v.map(f64::from);
    let no_spec = match facts.has_written_spec {
        None => entry(
            ClientType::NoSpec,
            PlaybookStatus::Unknown,
            unknown_fact("has_written_spec"),
            missing(&["has_written_spec"]),
        ),
        Some(false) => entry(
            ClientType::NoSpec,
            PlaybookStatus::Matched,
            Words::Fixed("no written spec"),
            Vec::new(),
        ),
        Some(true) => entry(
            ClientType::NoSpec,
            PlaybookStatus::NotMatched,
            Words::Fixed("a written spec exists"),
            Vec::new(),
        ),
    };
    [
        at_least(
            ClientType::ControlSeeker,
            "progress_requests_per_week",
            facts.progress_requests_per_week,
            s.playbook_min_progress_requests_per_week,
            Measure::ProgressRequests,
        ),
        no_spec,
        at_least(
            ClientType::Indecisive,
            "decision_postponements",
            count(facts.decision_postponements),
            s.playbook_min_decision_postponements.into(),
            Measure::Postponements,
        ),
        at_least(
            ClientType::Urgent,
            "rush_requests",
            count(facts.rush_requests),
            s.playbook_min_rush_requests.into(),
            Measure::RushRequests,
        ),
        at_least(
            ClientType::ResultOnly,
            "median_reply_days",
            facts.median_reply_days,
            s.playbook_min_median_reply_days,
            Measure::ReplyDays,
        ),
        at_least(
            ClientType::ScopeCreep,
            "out_of_scope_changes",
            count(facts.out_of_scope_changes),
            s.playbook_min_out_of_scope_changes.into(),
            Measure::OutOfScopeChanges,
        ),
        at_least(
            ClientType::HotTempered,
            "disrespectful_incidents",
            count(facts.disrespectful_incidents),
            profile.thresholds.max_disrespectful_incidents.into(),
            Measure::DisrespectfulIncidents,
        ),
        at_least(
            ClientType::DiscountHunter,
            "discount_requested_pct",
            facts.discount_requested_pct,
            s.playbook_min_discount_requested_pct,
            Measure::DiscountPct,
        ),
    ]
}

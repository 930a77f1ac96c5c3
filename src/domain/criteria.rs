//! The criteria catalogue: the 21 disqualification criteria of the SPEC, each
//! as data: code, stage, title, facts read, default settings and weight. How
//! each one is decided is its rule in `rules`.
//!
//! Adding a criterion means adding a variant to `Criterion`, an entry to
//! `CATALOGUE`, its rule to `rules` and its value to the proto enum.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A disqualification criterion. The discriminant is the stable number of
/// `CRITERION_<CODE>` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Criterion {
    CompanySizeMismatch = 1,
    RevenueMismatch = 2,
    VerticalMismatch = 3,
    BusinessModelMismatch = 4,
    OutsideTerritory = 5,
    CountryTimezoneMismatch = 6,
    Disrespectful = 7,
    EmotionalDecisions = 8,
    ErraticEngagement = 9,
    WithholdsAnswers = 10,
    NoCompromise = 11,
    ContradictoryStatements = 12,
    RefusesPlan = 13,
    InsufficientResources = 14,
    Disorganized = 15,
    NotAPriority = 16,
    MagicWand = 17,
    IgnoresPrescriptions = 18,
    MeetingDisruptions = 19,
    FeignedCompliance = 20,
    RepeatedExplanations = 21,
}

impl Criterion {
    pub const COUNT: usize = 21;

    /// Position in `CATALOGUE`.
    pub fn index(self) -> usize {
        self as usize - 1
    }

    /// The wire number of `CRITERION_<CODE>`.
    pub fn number(self) -> i32 {
        self as i32
    }

    pub fn from_number(number: i32) -> Option<Criterion> {
        usize::try_from(number)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| CATALOGUE.get(i))
            .map(|d| d.criterion)
    }

    pub fn from_code(code: &str) -> Option<Criterion> {
        CATALOGUE
            .iter()
            .find(|d| d.code == code)
            .map(|d| d.criterion)
    }

    /// The catalogue entry.
    pub fn def(self) -> &'static CriterionDef {
        &CATALOGUE[self.index()]
    }

    pub fn code(self) -> &'static str {
        self.def().code
    }
}

impl Serialize for Criterion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Criterion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Criterion::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown criterion {code}")))
    }
}

/// The furthest stage of a B2B sale a lead has reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    Identification = 1,
    Contact = 2,
    Study = 3,
    Recommendation = 4,
}

impl Stage {
    /// Every stage, in the order a sale goes through them.
    pub const ALL: [Stage; 4] = [
        Stage::Identification,
        Stage::Contact,
        Stage::Study,
        Stage::Recommendation,
    ];

    /// The stable code, as on the wire without the `STAGE_` prefix.
    pub fn code(self) -> &'static str {
        match self {
            Stage::Identification => "IDENTIFICATION",
            Stage::Contact => "CONTACT",
            Stage::Study => "STUDY",
            Stage::Recommendation => "RECOMMENDATION",
        }
    }

    /// The stage with this code, if any.
    pub fn from_code(code: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// One entry of the catalogue; the rule that decides it is `rules::rule`.
pub struct CriterionDef {
    pub criterion: Criterion,
    pub code: &'static str,
    pub stage: Stage,
    pub title: &'static str,
    pub description: &'static str,
    pub facts_read: &'static [&'static str],
    /// Profile settings compared against, with SPEC defaults.
    pub default_thresholds: &'static [&'static str],
    pub default_weight: i32,
}

/// The 21 criteria, in wire-number order.
pub static CATALOGUE: [CriterionDef; Criterion::COUNT] = [
    // Identification: fit with the ideal customer profile.
    CriterionDef {
        criterion: Criterion::CompanySizeMismatch,
        code: "COMPANY_SIZE_MISMATCH",
        stage: Stage::Identification,
        title: "Company size outside the profile",
        description: "The organisation is much bigger or much smaller than the ones we serve.",
        facts_read: &["employee_count"],
        default_thresholds: &["min_employees = unset", "max_employees = unset"],
        default_weight: 25,
    },
    CriterionDef {
        criterion: Criterion::RevenueMismatch,
        code: "REVENUE_MISMATCH",
        stage: Stage::Identification,
        title: "Revenue outside the profile",
        description: "Annual revenue is outside the range of the organisations we serve.",
        facts_read: &["annual_revenue_usd"],
        default_thresholds: &[
            "min_annual_revenue_usd = unset",
            "max_annual_revenue_usd = unset",
        ],
        default_weight: 25,
    },
    CriterionDef {
        criterion: Criterion::VerticalMismatch,
        code: "VERTICAL_MISMATCH",
        stage: Stage::Identification,
        title: "Vertical not targeted",
        description: "The lead's industry is not among the verticals we target.",
        facts_read: &["vertical"],
        default_thresholds: &["target_verticals = [] (no restriction)"],
        default_weight: 30,
    },
    CriterionDef {
        criterion: Criterion::BusinessModelMismatch,
        code: "BUSINESS_MODEL_MISMATCH",
        stage: Stage::Identification,
        title: "Business model not targeted",
        description: "How the lead's market works (b2b, b2c, b2g, marketplace, ...) is not one we target.",
        facts_read: &["business_model"],
        default_thresholds: &["target_business_models = [] (no restriction)"],
        default_weight: 20,
    },
    CriterionDef {
        criterion: Criterion::OutsideTerritory,
        code: "OUTSIDE_TERRITORY",
        stage: Stage::Identification,
        title: "Outside our territory",
        description: "The lead is in a sales territory we do not cover.",
        facts_read: &["territory"],
        default_thresholds: &["territories = [] (no restriction)"],
        default_weight: 40,
    },
    CriterionDef {
        criterion: Criterion::CountryTimezoneMismatch,
        code: "COUNTRY_TIMEZONE_MISMATCH",
        stage: Stage::Identification,
        title: "Country or working hours out of reach",
        description: "The lead's country is not served, or its business hours (09:00-18:00 local) overlap the seller's too little on the evaluation date.",
        facts_read: &["country", "timezone"],
        default_thresholds: &[
            "countries = [] (no restriction)",
            "seller_timezone = unset (country check only)",
            "seller_business_hours = 09:00-18:00",
            "min_overlap_hours = 3",
        ],
        default_weight: 30,
    },
    // Contact: first conversations.
    CriterionDef {
        criterion: Criterion::Disrespectful,
        code: "DISRESPECTFUL",
        stage: Stage::Contact,
        title: "Disrespectful behaviour",
        description: "Rude, disrespectful behaviour that makes communication hard.",
        facts_read: &["disrespectful_incidents"],
        default_thresholds: &["max_disrespectful_incidents = 1 (fires at 1)"],
        default_weight: 30,
    },
    CriterionDef {
        criterion: Criterion::EmotionalDecisions,
        code: "EMOTIONAL_DECISIONS",
        stage: Stage::Contact,
        title: "Emotional decisions only",
        description: "Reacts to proposals only emotionally and ignores factual evidence.",
        facts_read: &["emotional_only_responses"],
        default_thresholds: &[],
        default_weight: 10,
    },
    CriterionDef {
        criterion: Criterion::ErraticEngagement,
        code: "ERRATIC_ENGAGEMENT",
        stage: Stage::Contact,
        title: "Erratic engagement",
        description: "Engagement is impulsive, lethargic, or swings from one to the other.",
        facts_read: &["engagement_pattern"],
        default_thresholds: &[],
        default_weight: 10,
    },
    CriterionDef {
        criterion: Criterion::WithholdsAnswers,
        code: "WITHHOLDS_ANSWERS",
        stage: Stage::Contact,
        title: "Withholds answers",
        description: "Refuses to answer the seller's questions.",
        facts_read: &["questions_asked", "questions_answered"],
        default_thresholds: &["min_answer_ratio = 0.5"],
        default_weight: 20,
    },
    CriterionDef {
        criterion: Criterion::NoCompromise,
        code: "NO_COMPROMISE",
        stage: Stage::Contact,
        title: "No compromise on the process",
        description: "Forces the sale to run their way, with no compromise.",
        facts_read: &["insists_on_own_process"],
        default_thresholds: &[],
        default_weight: 20,
    },
    // Study: deep look at the client's situation.
    CriterionDef {
        criterion: Criterion::ContradictoryStatements,
        code: "CONTRADICTORY_STATEMENTS",
        stage: Stage::Study,
        title: "Contradictory statements",
        description: "Makes unreliable or contradictory claims.",
        facts_read: &["contradictory_statements"],
        default_thresholds: &["max_contradictions = 2 (fires at 2)"],
        default_weight: 20,
    },
    CriterionDef {
        criterion: Criterion::RefusesPlan,
        code: "REFUSES_PLAN",
        stage: Stage::Study,
        title: "Does not follow the agreed plan",
        description: "Won't follow guidance and doesn't carry out the agreed plan.",
        facts_read: &["plan_steps_agreed", "plan_steps_completed"],
        default_thresholds: &["min_plan_completion = 0.5"],
        default_weight: 25,
    },
    CriterionDef {
        criterion: Criterion::InsufficientResources,
        code: "INSUFFICIENT_RESOURCES",
        stage: Stage::Study,
        title: "Insufficient resources",
        description: "Not enough money or people to use the product well.",
        facts_read: &["budget_usd", "staff_available"],
        default_thresholds: &["min_budget_usd = unset", "min_staff = unset"],
        default_weight: 40,
    },
    CriterionDef {
        criterion: Criterion::Disorganized,
        code: "DISORGANIZED",
        stage: Stage::Study,
        title: "Disorganised",
        description: "Misses working sessions; can't find time to work with the seller.",
        facts_read: &["missed_sessions"],
        default_thresholds: &["max_missed_sessions = 2 (fires at 2)"],
        default_weight: 15,
    },
    CriterionDef {
        criterion: Criterion::NotAPriority,
        code: "NOT_A_PRIORITY",
        stage: Stage::Study,
        title: "Not a priority now",
        description: "Needs the product, but it is not a priority now.",
        facts_read: &["priority"],
        default_thresholds: &[],
        default_weight: 25,
    },
    // Recommendation: is the lead ready to close.
    CriterionDef {
        criterion: Criterion::MagicWand,
        code: "MAGIC_WAND",
        stage: Stage::Recommendation,
        title: "Expects a magic wand",
        description: "Expects everything to happen by itself; won't work as a team with the seller.",
        facts_read: &["expects_magic_wand"],
        default_thresholds: &[],
        default_weight: 25,
    },
    CriterionDef {
        criterion: Criterion::IgnoresPrescriptions,
        code: "IGNORES_PRESCRIPTIONS",
        stage: Stage::Recommendation,
        title: "Ignores assignments",
        description: "Doesn't read the material or do the exercises asked of them.",
        facts_read: &["assignments_given", "assignments_completed"],
        default_thresholds: &["min_assignment_completion = 0.5"],
        default_weight: 20,
    },
    CriterionDef {
        criterion: Criterion::MeetingDisruptions,
        code: "MEETING_DISRUPTIONS",
        stage: Stage::Recommendation,
        title: "Cancels or moves meetings",
        description: "Cancels meetings or keeps moving them.",
        facts_read: &["meetings_cancelled", "meetings_rescheduled"],
        default_thresholds: &["max_meeting_disruptions = 3 (fires at 3)"],
        default_weight: 20,
    },
    CriterionDef {
        criterion: Criterion::FeignedCompliance,
        code: "FEIGNED_COMPLIANCE",
        stage: Stage::Recommendation,
        title: "Feigned compliance",
        description: "Pretends to follow the seller's lead, but does not do what was agreed.",
        facts_read: &["agreed_actions_not_done"],
        default_thresholds: &["max_agreed_not_done = 2 (fires at 2)"],
        default_weight: 20,
    },
    CriterionDef {
        criterion: Criterion::RepeatedExplanations,
        code: "REPEATED_EXPLANATIONS",
        stage: Stage::Recommendation,
        title: "Material explained again and again",
        description: "The same material had to be sent or gone over more than the allowed number of times.",
        facts_read: &["max_material_repeats"],
        default_thresholds: &["max_material_repeats_allowed = 3 (fires at 4)"],
        default_weight: 15,
    },
];

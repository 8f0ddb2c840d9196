use crate::{BBox, Location, UnixMillis};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One object a detector found in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Index into the model's class list.
    pub class_id: u32,
    /// The model's class name, e.g. `car`.
    pub label: String,
    pub score: f32,
    pub bbox: BBox,
}

/// What kind of problem an issue is. Each maps to a GB/T 30428.2-style event code (two digits
/// for the large class, two for the subclass) so the district's digital city-management system
/// can file it without translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 机动车乱停放: a motor vehicle parked where parking is forbidden.
    IllegalParking,
    /// 占道经营: street stall occupying the public road.
    StreetVending,
    /// 黑三轮: unlicensed tricycle.
    UnlicensedTricycle,
    /// 非机动车乱停放: bicycles and motorbikes parked where they must not be.
    NonMotorParking,
    /// 人群聚集: more people in a zone than it safely holds, for a while.
    CrowdGathering,
    /// 乱堆物料、暴露垃圾: goods, materials or rubbish left where nothing may stay (a fire
    /// lane, a blind path, a corner where rubbish gets dumped); found without a class model.
    StreetClutter,
    /// 烟火: flame or smoke, an emergency.
    FireSmoke,
    /// 空气质量: air-pollution episode.
    AirPollution,
    /// 停车: parking lot saturated.
    ParkingSaturated,
    /// 拥堵: sustained congestion.
    Congestion,
    /// 设备故障: a sensor or camera needs maintenance.
    DeviceMaintenance,
}

impl Category {
    pub const ALL: [Category; 11] = [
        Category::IllegalParking,
        Category::StreetVending,
        Category::UnlicensedTricycle,
        Category::NonMotorParking,
        Category::CrowdGathering,
        Category::StreetClutter,
        Category::FireSmoke,
        Category::AirPollution,
        Category::ParkingSaturated,
        Category::Congestion,
        Category::DeviceMaintenance,
    ];

    /// The snake_case name used in configuration, metric labels and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::IllegalParking => "illegal_parking",
            Category::StreetVending => "street_vending",
            Category::UnlicensedTricycle => "unlicensed_tricycle",
            Category::NonMotorParking => "non_motor_parking",
            Category::CrowdGathering => "crowd_gathering",
            Category::StreetClutter => "street_clutter",
            Category::FireSmoke => "fire_smoke",
            Category::AirPollution => "air_pollution",
            Category::ParkingSaturated => "parking_saturated",
            Category::Congestion => "congestion",
            Category::DeviceMaintenance => "device_maintenance",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Category::IllegalParking => "机动车乱停放",
            Category::StreetVending => "占道经营",
            Category::UnlicensedTricycle => "黑三轮",
            Category::NonMotorParking => "非机动车乱停放",
            Category::CrowdGathering => "人群聚集",
            Category::StreetClutter => "乱堆物料/暴露垃圾",
            Category::FireSmoke => "烟火",
            Category::AirPollution => "空气质量",
            Category::ParkingSaturated => "停车饱和",
            Category::Congestion => "交通拥堵",
            Category::DeviceMaintenance => "设备故障",
        }
    }

    /// GB/T 30428.2-style event code: 05 street order, 04 emergencies, 01 city environment,
    /// 06 extension (used for classes the standard does not list).
    pub fn event_code(self) -> &'static str {
        match self {
            Category::IllegalParking => "0505",
            Category::StreetVending => "0501",
            Category::UnlicensedTricycle => "0512",
            Category::NonMotorParking => "0604",
            Category::CrowdGathering => "0605",
            Category::StreetClutter => "0606",
            Category::FireSmoke => "0406",
            Category::AirPollution => "0114",
            Category::ParkingSaturated => "0601",
            Category::Congestion => "0602",
            Category::DeviceMaintenance => "0603",
        }
    }

    /// Which of the seed's seven kinds of whistle item the category falls under.
    pub fn whistle_kind(self) -> WhistleKind {
        match self {
            Category::IllegalParking
            | Category::StreetVending
            | Category::UnlicensedTricycle
            | Category::NonMotorParking
            | Category::StreetClutter => WhistleKind::ClearRectifyImprove,
            Category::FireSmoke | Category::DeviceMaintenance | Category::CrowdGathering => WhistleKind::SafetyHazards,
            Category::AirPollution => WhistleKind::Ecology,
            Category::ParkingSaturated | Category::Congestion => WhistleKind::LiveableLife,
        }
    }

    /// Fire is the emergency-response whistle: everyone is told at once.
    pub fn default_priority(self) -> Priority {
        match self {
            Category::FireSmoke => Priority::Emergency,
            _ => Priority::Routine,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| format!("unknown category `{s}`"))
    }
}

/// The seed's seven kinds of whistle item (七类吹哨事项).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhistleKind {
    /// 疏解整治促提升
    ClearRectifyImprove,
    /// 信访维稳
    PetitionsStability,
    /// 安全隐患整治和城市安全运行
    SafetyHazards,
    /// 生态文明建设
    Ecology,
    /// 宜居生活
    LiveableLife,
    /// 公共服务
    PublicServices,
    /// 其他
    Other,
}

impl WhistleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WhistleKind::ClearRectifyImprove => "clear_rectify_improve",
            WhistleKind::PetitionsStability => "petitions_stability",
            WhistleKind::SafetyHazards => "safety_hazards",
            WhistleKind::Ecology => "ecology",
            WhistleKind::LiveableLife => "liveable_life",
            WhistleKind::PublicServices => "public_services",
            WhistleKind::Other => "other",
        }
    }
}

/// How the problem was discovered: the seed's nine channels (问题发现途径). shaobing feeds the
/// sub-district command centre channel, through video analytics or sensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveryChannel {
    CommandCentreVideo,
    CommandCentreSensor,
    DistrictAssigned,
    CitizenHotline,
    SubDistrictSections,
    ResidentPetition,
    StreetChiefPatrol,
    GridWorker,
    SuddenEmergency,
    Other,
}

impl DiscoveryChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscoveryChannel::CommandCentreVideo => "command_centre_video",
            DiscoveryChannel::CommandCentreSensor => "command_centre_sensor",
            DiscoveryChannel::DistrictAssigned => "district_assigned",
            DiscoveryChannel::CitizenHotline => "citizen_hotline",
            DiscoveryChannel::SubDistrictSections => "sub_district_sections",
            DiscoveryChannel::ResidentPetition => "resident_petition",
            DiscoveryChannel::StreetChiefPatrol => "street_chief_patrol",
            DiscoveryChannel::GridWorker => "grid_worker",
            DiscoveryChannel::SuddenEmergency => "sudden_emergency",
            DiscoveryChannel::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Routine,
    Emergency,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Routine => "routine",
            Priority::Emergency => "emergency",
        }
    }
}

/// Escalation tiers of the seed (分级响应).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscalationTier {
    /// 街道吹哨、部门报到: the sub-district summons district departments.
    StreetToDistrict,
    /// 社区吹哨、科室报到: the community summons sub-district sections.
    CommunityToStreet,
    /// 区级专班督办: the district's task force supervises what the sub-district and its
    /// departments left overdue.
    DistrictSupervision,
}

impl EscalationTier {
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationTier::StreetToDistrict => "street_to_district",
            EscalationTier::CommunityToStreet => "community_to_street",
            EscalationTier::DistrictSupervision => "district_supervision",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::CommunityToStreet, Self::StreetToDistrict, Self::DistrictSupervision]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    /// The tier an overdue issue moves up to (分级响应: what a community cannot solve goes to
    /// the sub-district, what the sub-district cannot to the district); the top stays.
    pub fn up(self) -> Self {
        match self {
            EscalationTier::CommunityToStreet => EscalationTier::StreetToDistrict,
            EscalationTier::StreetToDistrict | EscalationTier::DistrictSupervision => {
                EscalationTier::DistrictSupervision
            }
        }
    }
}

/// How long a department has, from an issue's creation, to respond (a verdict: confirm,
/// dismiss or dispatch) and to resolve it; `None` is no deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    pub respond_secs: Option<u64>,
    pub resolve_secs: Option<u64>,
}

/// Who must act and how: copied from the configured responsibility map into each issue when it
/// is created, so later map edits do not rewrite history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Responsibility {
    pub department: String,
    pub tier: EscalationTier,
    pub resolution_path: String,
    /// Absent in findings kept on disk by an earlier version: no deadline.
    #[serde(default)]
    pub deadlines: Deadlines,
}

/// Lifecycle of an issue in the problem database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueStatus {
    Candidate,
    Confirmed,
    Dismissed,
    Dispatched,
    Resolved,
    Verified,
}

impl IssueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Candidate => "candidate",
            IssueStatus::Confirmed => "confirmed",
            IssueStatus::Dismissed => "dismissed",
            IssueStatus::Dispatched => "dispatched",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Verified => "verified",
        }
    }

    /// Open issues absorb new occurrences of the same hazard instead of spawning new ones.
    pub fn is_open(self) -> bool {
        matches!(self, IssueStatus::Candidate | IssueStatus::Confirmed | IssueStatus::Dispatched)
    }
}

/// Why the issue was raised: what was seen, by which rule, how sure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cause {
    /// Human-readable sentence for the problem database.
    pub summary: String,
    /// Rule that fired, e.g. `illegal_parking/dwell`.
    pub rule: String,
    pub confidence: f32,
    /// The detections in the evidence frame that support the issue.
    pub detections: Vec<Detection>,
}

/// A problem a rule found, ready for dedup and the problem database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateIssue {
    /// Same hazard, same key: the database folds repeats into one open issue.
    pub dedup_key: String,
    pub category: Category,
    pub location: Location,
    pub cause: Cause,
    pub responsibility: Responsibility,
    pub priority: Priority,
    pub channel: DiscoveryChannel,
    pub observed_at: UnixMillis,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_round_trip() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
            assert_eq!(c.event_code().len(), 4);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        assert!("parking".parse::<Category>().is_err());
    }

    #[test]
    fn fire_is_the_only_emergency_and_a_safety_whistle() {
        let emergencies: Vec<_> =
            Category::ALL.into_iter().filter(|c| c.default_priority() == Priority::Emergency).collect();
        assert_eq!(emergencies, vec![Category::FireSmoke]);
        assert_eq!(Category::FireSmoke.whistle_kind(), WhistleKind::SafetyHazards);
        assert_eq!(Category::StreetVending.whistle_kind(), WhistleKind::ClearRectifyImprove);
        assert_eq!(Category::AirPollution.whistle_kind(), WhistleKind::Ecology);
    }

    #[test]
    fn open_statuses() {
        assert!(IssueStatus::Candidate.is_open());
        assert!(IssueStatus::Dispatched.is_open());
        assert!(!IssueStatus::Resolved.is_open());
        assert!(!IssueStatus::Dismissed.is_open());
    }
}

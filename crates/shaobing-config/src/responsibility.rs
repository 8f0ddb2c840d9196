use crate::ConfigError;
use serde::Deserialize;
use shaobing_core::{Category, Deadlines, EscalationTier, Responsibility};

/// Who is responsible for a category of problem, and how it is resolved.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponsibilityEntry {
    /// The department that reports in (报到) when the whistle blows.
    pub department: String,
    /// `street_to_district` (街道吹哨、部门报到), `community_to_street` (社区吹哨、科室报到) or
    /// `district_supervision` (区级专班督办); an overdue issue moves up from here.
    pub tier: EscalationTier,
    /// The suggested resolution path written into each issue.
    pub resolution_path: String,
    /// Seconds from an issue's creation for its department to respond (confirm, dismiss or
    /// dispatch it); missed, the issue is overdue and moves up a tier. 0 sets none; absent
    /// keeps the category's built-in deadline.
    #[serde(default)]
    pub respond_secs: Option<u64>,
    /// Seconds from an issue's creation for it to be resolved; missed, it is overdue and
    /// moves up a tier. 0 sets none; absent keeps the category's built-in deadline.
    #[serde(default)]
    pub resolve_secs: Option<u64>,
}

impl ResponsibilityEntry {
    pub(crate) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.department.trim().is_empty() {
            return Err(ConfigError::invalid(format!("{key}.department"), "expected a department name"));
        }
        if self.resolution_path.trim().is_empty() {
            return Err(ConfigError::invalid(format!("{key}.resolution_path"), "expected a resolution path"));
        }
        if let (Some(respond), Some(resolve)) = (self.respond_secs, self.resolve_secs)
            && respond > 0
            && resolve > 0
            && respond > resolve
        {
            return Err(ConfigError::invalid(
                format!("{key}.respond_secs"),
                format!(
                    "a response is due before the resolution: expected at most resolve_secs ({resolve}), got {respond}"
                ),
            ));
        }
        Ok(())
    }

    pub fn to_domain(&self) -> Responsibility {
        let deadline = |secs: Option<u64>| secs.filter(|s| *s > 0);
        Responsibility {
            department: self.department.clone(),
            tier: self.tier,
            resolution_path: self.resolution_path.clone(),
            deadlines: Deadlines {
                respond_secs: deadline(self.respond_secs),
                resolve_secs: deadline(self.resolve_secs),
            },
        }
    }

    /// This entry with the built-in deadlines of `category` where it sets none.
    pub(crate) fn with_default_deadlines(mut self, category: Category) -> Self {
        let (respond, resolve) = default_deadlines(category);
        self.respond_secs = self.respond_secs.or(Some(respond));
        self.resolve_secs = self.resolve_secs.or(Some(resolve));
        self
    }
}

const MIN: u64 = 60;
const HOUR: u64 = 3_600;

/// Built-in (respond, resolve) deadlines in seconds: an emergency within minutes, what blocks
/// the street within the hour, what a shift can plan for within the day.
fn default_deadlines(category: Category) -> (u64, u64) {
    match category {
        Category::FireSmoke => (5 * MIN, 15 * MIN),
        Category::CrowdGathering | Category::Congestion => (10 * MIN, HOUR),
        Category::IllegalParking | Category::UnlicensedTricycle => (15 * MIN, HOUR),
        Category::StreetVending | Category::ParkingSaturated => (30 * MIN, 2 * HOUR),
        Category::NonMotorParking => (HOUR, 4 * HOUR),
        Category::StreetClutter | Category::AirPollution => (HOUR, 24 * HOUR),
        Category::DeviceMaintenance => (4 * HOUR, 48 * HOUR),
    }
}

/// The built-in map, following how Sanlitun assigns these problems; a deployment overrides
/// it under `[responsibility.<category>]`.
pub fn default_responsibility(category: Category) -> ResponsibilityEntry {
    use EscalationTier::*;
    let (department, tier, path) = match category {
        Category::IllegalParking => (
            "区交通支队 (district traffic police)",
            StreetToDistrict,
            "交通支队现场劝离或贴单；屡次占用时街道协调设置隔离设施",
        ),
        Category::StreetVending => (
            "区城管执法局 (city-management law enforcement)",
            StreetToDistrict,
            "城管执法队劝离、暂扣经营工具；社区引导入市经营",
        ),
        Category::UnlicensedTricycle => {
            ("区交通支队 (district traffic police)", StreetToDistrict, "交通支队会同城管、派出所联合查扣非法营运三轮车")
        }
        Category::FireSmoke => (
            "区消防救援支队 (fire and rescue)",
            StreetToDistrict,
            "应急吹哨：立即通知消防、公安、街道领导，现场设立指挥部",
        ),
        Category::NonMotorParking => (
            "街道城市管理办公室 (sub-district city management office)",
            CommunityToStreet,
            "城管清理并规范停放，通知共享单车企业限时调度",
        ),
        Category::StreetClutter => (
            "街道城市管理办公室 (sub-district city management office)",
            CommunityToStreet,
            "城管通知责任单位限时清理物料；无主垃圾由环卫当日清运",
        ),
        Category::CrowdGathering => {
            ("区公安分局派出所 (police station)", StreetToDistrict, "派出所到场疏导，街道平安建设办协同维持秩序")
        }
        Category::AirPollution => (
            "区生态环境局 (ecology and environment)",
            StreetToDistrict,
            "生态环境局溯源排查污染源，城管落实扬尘、露天烧烤管控",
        ),
        Category::ParkingSaturated => (
            "街道城市管理办公室 (sub-district city management office)",
            CommunityToStreet,
            "启用错时共享停车位并在诱导屏发布空位信息",
        ),
        Category::Congestion => {
            ("区交通支队 (district traffic police)", StreetToDistrict, "交通支队疏导并调整信号配时；街道排查占道因素")
        }
        Category::DeviceMaintenance => {
            ("街道网格化服务管理中心 (grid management centre)", CommunityToStreet, "安排运维人员检修设备并核对数据接入")
        }
    };
    let entry = ResponsibilityEntry {
        department: department.into(),
        tier,
        resolution_path: path.into(),
        respond_secs: None,
        resolve_secs: None,
    };
    entry.with_default_deadlines(category)
}

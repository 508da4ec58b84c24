//! CloudTrail events → changes classified by what they do, failed calls, and one line each
//! summarising read-only calls and routine AWS activity.
//!
//! # Change classes
//!
//! A mutating event is classified by its event name ([`classify`]):
//!
//! - **deploy**: new code or a new version goes live (ECS `UpdateService`, `CreateService`,
//!   `RegisterTaskDefinition`; Lambda `UpdateFunctionCode`, `PublishVersion`, `UpdateAlias`;
//!   CodeDeploy `CreateDeployment`; CloudFormation `UpdateStack`, `ExecuteChangeSet`;
//!   AppConfig `StartDeployment`; Elastic Beanstalk `UpdateEnvironment`; ECR `PutImage`;
//!   Auto Scaling `StartInstanceRefresh`);
//! - **configuration**: a setting or a secret changes (SSM `PutParameter`, Secrets Manager
//!   `PutSecretValue`/`UpdateSecret`/`RotateSecret`, Lambda `UpdateFunctionConfiguration`,
//!   concurrency, DynamoDB `UpdateTable`, RDS `Modify*`, capacity, queue and load balancer
//!   attributes, event source mappings, alarms);
//! - **permission**: who may do what (IAM policies and role trust, KMS key policies, grants
//!   and key state, bucket and resource policies, Lambda permissions);
//! - **network**: where packets may go (security groups, NACLs, routes, DNS records, VPC
//!   endpoints);
//! - **data**: data is deleted or restored (`Delete*` of tables, buckets, objects, DB
//!   instances, `Restore*`);
//! - **routine**: calls AWS services and agents make whenever a task or function starts or
//!   an agent reports: `CreateLogStream`/`PutLogEvents`, `AssumeRole*`, KMS `Decrypt`/
//!   `Encrypt`/`GenerateDataKey*`, `PutMetricData`, X-Ray `PutTraceSegments`, SSM agent
//!   `UpdateInstanceInformation`, ECS agent `Submit*StateChange`, and every call an AWS service
//!   makes on its own (`userIdentity.type` `AWSService`: task ENIs, replacement tasks). They
//!   are kept out of the cause ranking and summarised in one line;
//! - **other**: any other mutating call.
//!
//! Changes are grouped by action and actor, where the actor of an assumed role is the role,
//! not the session: a pipeline that runs in a new session each time is one actor.
//!
//! # Scoring: the time order decides
//!
//! A change has no baseline rate to burst above: it matters by how shortly it happened
//! *before* the anchor (the first strong anomaly, see [`super`]). A change made more than a
//! minute (clock skew) after the anchor is never a suspect: it is a response or a
//! consequence, and its title says so. Deploy and configuration changes stay suspects for
//! the change lookback (`change_lookback`, default 6 h; a slow leak or a filling disk starts
//! long before the first error) with a slow decay (`exp(-minutes / 45)`); the other classes
//! decay within minutes (`exp(-minutes / 10)`, at most an hour). A deploy is the most likely
//! cause of a new failure whoever made it, so automation is not discounted for deploy,
//! configuration, permission and network changes; only unclassified calls by automation
//! weigh less than a person's. Changes repeated at a steady rate in both windows (automation
//! that runs every minute) are discounted.
use super::{BoundedCounter, Ctx, PhaseCounts, human_delta, note_origin};
use crate::evidence::{self, Evidence, EvidenceKind};
use crate::record::{AuditEvent, RecordKind};
use crate::request::Phase;
use crate::telemetry::{Origin, OriginId};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// What a change does (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ChangeClass {
    Deploy,
    Configuration,
    Permission,
    Network,
    Data,
    Routine,
    Other,
}

impl ChangeClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeClass::Deploy => "deploy",
            ChangeClass::Configuration => "configuration",
            ChangeClass::Permission => "permission",
            ChangeClass::Network => "network",
            ChangeClass::Data => "data",
            ChangeClass::Routine => "routine",
            ChangeClass::Other => "other",
        }
    }

    /// How bad such a change is when it goes wrong.
    fn severity(self, person: bool) -> f64 {
        match self {
            ChangeClass::Deploy | ChangeClass::Permission | ChangeClass::Network => 0.9,
            ChangeClass::Configuration => 0.85,
            ChangeClass::Data => 0.75,
            ChangeClass::Routine => 0.05,
            ChangeClass::Other if person => 0.8,
            ChangeClass::Other => 0.6,
        }
    }

    /// Changes whose effect may show long after them (a leak, a filling disk, a cache that
    /// expires): they stay suspects for the whole change lookback.
    fn slow_acting(self) -> bool {
        matches!(self, ChangeClass::Deploy | ChangeClass::Configuration)
    }
}

/// Event names of each class, in the order they are tried. A name matches itself and the
/// same name with an API-version suffix (`UpdateFunctionCode20150331v2`); a name ending in
/// `*` is a family (`ModifyDB*`: `ModifyDBInstance`, `ModifyDBCluster`...).
const CLASSES: &[(ChangeClass, &[&str])] = &[
    (
        ChangeClass::Routine,
        &[
            "CreateLogStream",
            "PutLogEvents",
            "AssumeRole*",
            "GetSessionToken",
            "GetFederationToken",
            "Decrypt",
            "Encrypt",
            "GenerateDataKey*",
            "ReEncrypt",
            "PutMetricData",
            "PutTraceSegments",
            "PutTelemetryRecords",
            "UpdateInstanceInformation",
            "SubmitTaskStateChange",
            "SubmitContainerStateChange",
            "SubmitAttachmentStateChanges",
            "RegisterContainerInstance",
            "UpdateContainerInstancesState",
            "SendHeartbeat",
            "ConsoleLogin",
            "StartQuery",
            "StopQuery",
        ],
    ),
    (
        ChangeClass::Deploy,
        &[
            "UpdateService",
            "CreateService",
            "RegisterTaskDefinition",
            "UpdateFunctionCode",
            "PublishVersion",
            "UpdateAlias",
            "CreateDeployment",
            "UpdateStack",
            "CreateStack",
            "ExecuteChangeSet",
            "StartDeployment",
            "UpdateEnvironment",
            "PutImage",
            "StartInstanceRefresh",
            "CreateLaunchTemplateVersion",
            "PublishLayerVersion",
            "UpdateApplication",
            "CreateDeploymentGroup",
        ],
    ),
    (
        ChangeClass::Permission,
        &[
            "PutRolePolicy",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "DeleteRolePolicy",
            "PutUserPolicy",
            "AttachUserPolicy",
            "DetachUserPolicy",
            "DeleteUserPolicy",
            "CreatePolicyVersion",
            "SetDefaultPolicyVersion",
            "UpdateAssumeRolePolicy",
            "PutRolePermissionsBoundary",
            "PutKeyPolicy",
            "DisableKey",
            "ScheduleKeyDeletion",
            "RevokeGrant",
            "RetireGrant",
            "PutBucketPolicy",
            "DeleteBucketPolicy",
            "PutBucketAcl",
            "PutPublicAccessBlock",
            "PutResourcePolicy",
            "DeleteResourcePolicy",
            "AddPermission",
            "RemovePermission",
        ],
    ),
    (
        ChangeClass::Network,
        &[
            "AuthorizeSecurityGroup*",
            "RevokeSecurityGroup*",
            "ModifySecurityGroupRules",
            "UpdateSecurityGroupRuleDescriptions",
            "CreateNetworkAclEntry",
            "ReplaceNetworkAclEntry",
            "DeleteNetworkAclEntry",
            "ReplaceNetworkAclAssociation",
            "CreateRoute",
            "ReplaceRoute",
            "DeleteRoute",
            "AssociateRouteTable",
            "DisassociateRouteTable",
            "ReplaceRouteTableAssociation",
            "ChangeResourceRecordSets",
            "ModifyVpcEndpoint",
            "DeleteVpcEndpoints",
            "ModifyInstanceAttribute",
            "ModifyNetworkInterfaceAttribute",
            "DeleteNatGateway",
            "DetachInternetGateway",
        ],
    ),
    (
        ChangeClass::Configuration,
        &[
            "PutParameter",
            "DeleteParameter",
            "PutSecretValue",
            "UpdateSecret",
            "RotateSecret",
            "UpdateFunctionConfiguration",
            "PutFunctionConcurrency",
            "DeleteFunctionConcurrency",
            "PutProvisionedConcurrencyConfig",
            "UpdateEventSourceMapping",
            "SetQueueAttributes",
            "UpdateTable",
            "UpdateTimeToLive",
            "ModifyDB*",
            "ModifyCache*",
            "ModifyReplicationGroup",
            "ModifyLoadBalancerAttributes",
            "ModifyTargetGroup*",
            "ModifyListener",
            "ModifyRule",
            "SetDesiredCapacity",
            "UpdateAutoScalingGroup",
            "PutScalingPolicy",
            "PutScheduledUpdateGroupAction",
            "ModifyVolume",
            "CreateHostedConfigurationVersion",
            "UpdateConfigurationProfile",
            "PutMetricAlarm",
            "PutRetentionPolicy",
            "UpdateCertificateOptions",
            "ImportCertificate",
            "PutBucketLifecycle*",
            "PutBucketVersioning",
            "UpdateApi",
            "UpdateStage",
            "UpdateRestApi",
            "CreateInvalidation",
            "UpdateDistribution",
        ],
    ),
    (
        ChangeClass::Data,
        &[
            "DeleteTable",
            "DeleteBucket",
            "DeleteObject*",
            "DeleteDBInstance",
            "DeleteDBCluster",
            "DeleteItem",
            "BatchWriteItem",
            "RestoreDB*",
            "RestoreTable*",
            "PurgeQueue",
            "DeleteQueue",
            "DeleteFunction",
            "DeleteLogGroup",
        ],
    ),
];

/// The class of a mutating event: routine when an AWS service made the call on its own,
/// else by its name.
pub(crate) fn classify(e: &AuditEvent) -> ChangeClass {
    if e.identity_type == "AWSService" {
        return ChangeClass::Routine;
    }
    CLASSES
        .iter()
        .find(|(_, names)| names.iter().any(|n| name_matches(&e.event_name, n)))
        .map_or(ChangeClass::Other, |(c, _)| *c)
}

/// Whether event `name` is `pattern` (see [`CLASSES`]).
fn name_matches(name: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(family) => name.starts_with(family),
        None => name
            .strip_prefix(pattern)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_digit())),
    }
}

/// A SQL (Trino/Athena) predicate on the event-name column `column` that is true exactly
/// when [`classify`] would call a mutating event made by a principal (not an AWS service)
/// deploy- or configuration-class, the changes that stay suspects for the whole change
/// lookback: generated from [`CLASSES`], so the list of event names has one home. A class
/// matches only when no class tried before it does (the order of [`classify`]); a name
/// matches itself with an optional API-version suffix, a `*` family its prefix (see
/// [`name_matches`]). The caller adds the identity, `readonly` and `errorcode` conditions.
#[cfg(feature = "aws")]
pub(crate) fn slow_acting_names_sql(column: &str) -> String {
    // The names are identifiers of letters and digits: nothing to escape in the regex or in
    // the string literal (a test checks it).
    let regex = |names: &[&str]| {
        let alts: Vec<String> = names
            .iter()
            .map(|n| match n.strip_suffix('*') {
                Some(family) => format!("{family}.*"),
                None => format!("{n}(?:[0-9].*)?"),
            })
            .collect();
        format!("'^(?:{})$'", alts.join("|"))
    };
    let mut earlier: Vec<&str> = Vec::new();
    let mut terms = Vec::new();
    for (class, names) in CLASSES {
        if class.slow_acting() {
            let mut t = format!("regexp_like({column}, {})", regex(names));
            if !earlier.is_empty() {
                t.push_str(&format!(
                    " AND NOT regexp_like({column}, {})",
                    regex(&earlier)
                ));
            }
            terms.push(format!("({t})"));
        }
        earlier.extend_from_slice(names);
    }
    format!("({})", terms.join(" OR "))
}

/// Who made a change, for grouping: the role of an assumed-role session (`role/session` →
/// `role`), so that a pipeline or an agent that runs in a new session each time is one actor;
/// a person's SSO session keeps the person's name in the title, from the first event.
fn actor_key(e: &AuditEvent) -> String {
    if e.identity_type == "AssumedRole"
        && let Some((role, _)) = e.actor.split_once('/')
    {
        return role.to_string();
    }
    e.actor.clone()
}

/// Distinct change and error groups kept.
const MAX_GROUPS: usize = 1000;
/// Occurrence times kept per group.
const MAX_TIMES: usize = 64;
/// How far before the anchor a change is considered a suspect.
const LOOKBACK_MINUTES: f64 = 60.0;
/// Bytes kept of each short field of an event (names, actor, ARNs, IPs, user agent): the
/// first event of each of up to 2 × [`MAX_GROUPS`] groups is kept whole, and its key repeats
/// four of these fields, so each must cost a bounded number of bytes whatever the source sent.
/// The longest ARNs and user agents AWS writes fit.
const FIELD_BYTES: usize = 512;
/// Bytes kept of an error message (the report shows 200 characters of it).
const MESSAGE_BYTES: usize = 1024;
/// Resources kept per event, and bytes kept of each.
const MAX_RESOURCES: usize = 8;

/// Cuts every string of `e` to its cap ([`FIELD_BYTES`], [`MESSAGE_BYTES`], and the
/// parsers' `MAX_PARAMS_LEN` for `requestParameters`), marking each cut with `…`: every
/// source's events (files, Athena rows, API lookups, third-party sources) pass here.
fn bound_event(e: &mut AuditEvent) {
    use crate::bounds::cut_in_place;
    use crate::telemetry::files::cloudtrail::MAX_PARAMS_LEN;
    for f in [
        &mut e.event_source,
        &mut e.event_name,
        &mut e.region,
        &mut e.source_ip,
        &mut e.user_agent,
        &mut e.identity_type,
        &mut e.identity_arn,
        &mut e.actor,
        &mut e.error_code,
        &mut e.event_id,
    ] {
        cut_in_place(f, FIELD_BYTES);
    }
    cut_in_place(&mut e.error_message, MESSAGE_BYTES);
    cut_in_place(&mut e.request_parameters, MAX_PARAMS_LEN);
    e.resources.truncate(MAX_RESOURCES);
    e.resources.shrink_to_fit();
    for r in e.resources.iter_mut() {
        cut_in_place(r, FIELD_BYTES);
    }
}

#[derive(Debug)]
struct Group {
    counts: PhaseCounts,
    times: Vec<DateTime<Utc>>,
    first: AuditEvent,
    source_ips: BoundedCounter,
    origins: Vec<OriginId>,
}

#[derive(Debug, Default)]
pub(crate) struct AuditAggregator {
    changes: BTreeMap<(String, String, String, String), Group>,
    errors: BTreeMap<(String, String, String, String), Group>,
    read_only: BoundedCounter,
    read_only_counts: Option<PhaseCounts>,
    /// Routine calls by action and actor (role), and their counts.
    routine: BoundedCounter,
    routine_counts: Option<PhaseCounts>,
    dropped_groups: u64,
    origins: Vec<OriginId>,
}

/// Whether a person (not an AWS service) made the call.
fn by_person(e: &AuditEvent) -> bool {
    let ua = e.user_agent.to_ascii_lowercase();
    let service_call = e.source_ip.ends_with(".amazonaws.com") || e.identity_type == "AWSService";
    !service_call
        && (ua.contains("console")
            || ua.contains("aws-cli")
            || ua.contains("signin")
            || e.identity_type == "IAMUser"
            || e.identity_type == "Root"
            || e.identity_type == "AssumedRole")
}

impl AuditAggregator {
    pub fn add(
        &mut self,
        ctx: &Ctx<'_>,
        origin: OriginId,
        phase: Phase,
        ts: DateTime<Utc>,
        mut e: AuditEvent,
    ) {
        bound_event(&mut e);
        note_origin(&mut self.origins, origin);
        if !e.error_code.is_empty() {
            let key = (
                e.event_name.clone(),
                e.error_code.clone(),
                e.actor.clone(),
                e.resources.first().cloned().unwrap_or_default(),
            );
            return Self::add_to(
                &mut self.errors,
                &mut self.dropped_groups,
                ctx,
                origin,
                phase,
                ts,
                key,
                e,
            );
        }
        if !e.is_mutating() {
            self.read_only.add(&e.event_name, 200);
            self.read_only_counts
                .get_or_insert_with(|| PhaseCounts::new(&ctx.timeline))
                .add(&ctx.timeline, phase, ts);
            return;
        }
        if classify(&e) == ChangeClass::Routine {
            self.routine
                .add(&format!("{} by {}", e.event_name, actor_key(&e)), 200);
            self.routine_counts
                .get_or_insert_with(|| PhaseCounts::new(&ctx.timeline))
                .add(&ctx.timeline, phase, ts);
            return;
        }
        let key = (
            e.event_source.clone(),
            e.event_name.clone(),
            actor_key(&e),
            e.resources.first().cloned().unwrap_or_default(),
        );
        Self::add_to(
            &mut self.changes,
            &mut self.dropped_groups,
            ctx,
            origin,
            phase,
            ts,
            key,
            e,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn add_to(
        map: &mut BTreeMap<(String, String, String, String), Group>,
        dropped: &mut u64,
        ctx: &Ctx<'_>,
        origin: OriginId,
        phase: Phase,
        ts: DateTime<Utc>,
        key: (String, String, String, String),
        e: AuditEvent,
    ) {
        if !map.contains_key(&key) && map.len() >= MAX_GROUPS {
            *dropped += 1;
            return;
        }
        let g = map.entry(key).or_insert_with(|| Group {
            counts: PhaseCounts::new(&ctx.timeline),
            times: Vec::new(),
            first: e.clone(),
            source_ips: BoundedCounter::default(),
            origins: Vec::new(),
        });
        g.counts.add(&ctx.timeline, phase, ts);
        if g.times.len() < MAX_TIMES {
            g.times.push(ts);
        } else if let Some(last) = g.times.last_mut() {
            // keep the latest occurrence: it is the one closest to the anomaly
            *last = (*last).max(ts);
        }
        g.source_ips.add(&e.source_ip, 16);
        note_origin(&mut g.origins, origin);
    }

    /// One line summarising calls kept out of the ranking (reads, routine activity): a
    /// near-zero score, the most frequent names, and how to find them.
    fn summary(
        ctx: &Ctx<'_>,
        origins: &[Origin],
        own: &[OriginId],
        counts: &PhaseCounts,
        title: String,
        names: &BoundedCounter,
        (needle, field): (&str, &str),
    ) -> Evidence {
        let mut e = Evidence::new(
            EvidenceKind::AuditSummary,
            super::source_name(origins, own, RecordKind::Cloudtrail),
            title,
        );
        counts.fill(&mut e, ctx);
        e.detail = Some(format!("most frequent: {}", names.describe(6)));
        e.signal = evidence::Signal {
            severity: 0.05,
            anomaly: 0.0,
            proximity: 0.0,
            z: 0.0,
            new: false,
        };
        e.score = 0.01;
        let locs = super::locators(origins, own);
        e.reproduce = crate::reproduce::grep_command(&locs, needle, Some(field));
        e.origins = own.to_vec();
        e
    }

    pub fn finish(self, ctx: &Ctx<'_>, origins: &[Origin], anchor: DateTime<Utc>) -> Vec<Evidence> {
        let mut out = Vec::new();
        for ((_, name, _, resource), g) in self.changes {
            out.push(change_evidence(ctx, origins, anchor, &name, &resource, g));
        }
        for ((name, code, actor, resource), g) in self.errors {
            let e0 = &g.first;
            let on = if resource.is_empty() {
                String::new()
            } else {
                format!(" on {resource}")
            };
            let mut e = Evidence::new(
                EvidenceKind::AuditError,
                super::source_name(origins, &g.origins, RecordKind::Cloudtrail),
                format!("{name}{on} by {actor} failed with {code}"),
            );
            g.counts.fill(&mut e, ctx);
            e.signal = g.counts.signal(ctx.window, 0.7);
            e.signal.proximity = evidence::proximity(e.onset, anchor);
            e.score = evidence::combine(0.7, e.signal.anomaly, e.signal.proximity);
            e.detail = Some(format!(
                "{}; message: {}; from {}",
                super::versus(g.counts.incident, g.counts.baseline, ctx.window),
                super::clip(&e0.error_message, 200),
                g.source_ips.describe(3)
            ));
            e.resources = e0.resources.clone();
            e.samples = vec![super::clip_sample(
                &describe_event(e0),
                ctx.config.sample_chars,
            )];
            let locs = super::locators(origins, &g.origins);
            e.reproduce = crate::reproduce::grep_command(&locs, &code, Some(".errorCode"));
            e.origins = g.origins;
            out.push(e);
        }
        if let Some(c) = &self.read_only_counts {
            out.push(Self::summary(
                ctx,
                origins,
                &self.origins,
                c,
                format!(
                    "{} read-only API calls in the incident window vs {} in the baseline (not changes)",
                    c.incident, c.baseline
                ),
                &self.read_only,
                ("true", ".readOnly"),
            ));
        }
        if let Some(c) = &self.routine_counts {
            // the most frequent routine call is what a person would grep for first
            let top = self.routine.top(1);
            let needle = top.first().map_or("CreateLogStream", |(name, _)| *name);
            out.push(Self::summary(
                ctx,
                origins,
                &self.origins,
                c,
                format!(
                    "{} routine AWS calls in the incident window vs {} in the baseline (log streams, role sessions, KMS data keys, agents; not ranked as causes)",
                    c.incident, c.baseline
                ),
                &self.routine,
                (needle, ".eventName"),
            ));
        }
        if self.dropped_groups > 0
            && let Some(last) = out.last_mut()
        {
            let d = last.detail.get_or_insert_with(String::new);
            d.push_str(&format!(
                "; {} events in groups beyond the first {MAX_GROUPS} were only counted",
                self.dropped_groups
            ));
        }
        out
    }
}

/// One-line description of an event for samples.
fn describe_event(e: &AuditEvent) -> String {
    format!(
        "{} {} {} by {} ({}) from {} ua={} params={}{}",
        e.time.map(crate::time::rfc3339).unwrap_or_default(),
        e.event_source,
        e.event_name,
        e.actor,
        e.identity_arn,
        e.source_ip,
        super::clip(&e.user_agent, 60),
        if e.request_parameters.is_empty() {
            "-"
        } else {
            &e.request_parameters
        },
        if e.error_code.is_empty() {
            String::new()
        } else {
            format!(" error={}", e.error_code)
        }
    )
}

/// Decay, in minutes, of a suspect change's closeness before the anchor.
const FAST_DECAY_MINUTES: f64 = 10.0;
const SLOW_DECAY_MINUTES: f64 = 45.0;
/// A change this long after the anchor is after it (clock skew between sources allowed).
const SKEW_SECONDS: i64 = 60;

fn change_evidence(
    ctx: &Ctx<'_>,
    origins: &[Origin],
    anchor: DateTime<Utc>,
    name: &str,
    resource: &str,
    g: Group,
) -> Evidence {
    let e0 = &g.first;
    let actor = &e0.actor;
    let class = classify(e0);
    // the occurrence closest before the anchor (clock skew allowed)
    let limit = anchor + chrono::Duration::seconds(SKEW_SECONDS);
    let suspect = g.times.iter().filter(|t| **t <= limit).max().copied();
    let lookback_minutes = if class.slow_acting() {
        ctx.config.change_lookback.as_secs_f64() / 60.0
    } else {
        LOOKBACK_MINUTES
    };
    let decay = if class.slow_acting() {
        SLOW_DECAY_MINUTES
    } else {
        FAST_DECAY_MINUTES
    };
    let closeness = suspect.map_or(0.0, |t| {
        let minutes = (anchor - t).num_seconds().max(0) as f64 / 60.0;
        if minutes > lookback_minutes {
            0.0
        } else {
            (-minutes / decay).exp()
        }
    });
    let total = g.counts.incident + g.counts.baseline;
    // steady automation: many occurrences spread evenly over both windows
    let z = g.counts.burst_z(ctx.window);
    let routine = total >= 4 && z < 2.0;
    let anomaly = if routine { closeness * 0.25 } else { closeness };
    let person = by_person(e0);
    let severity = class.severity(person);
    let when = suspect.or(g.times.iter().min().copied());
    let on = if resource.is_empty() {
        String::new()
    } else {
        format!(" on {resource}")
    };
    let relation = match when {
        Some(t) if t <= limit && t <= anchor => {
            format!(", {} before the first anomaly", human_delta(t, anchor))
        }
        Some(t) if t <= limit => format!(", {} after the first anomaly", human_delta(anchor, t)),
        Some(t) => format!(
            ", {} after the first anomaly began (a response or a consequence, not its cause)",
            human_delta(anchor, t)
        ),
        None => String::new(),
    };
    let times = if g.times.len() > 1 {
        format!(" ({} times)", g.times.len().max(total as usize))
    } else {
        String::new()
    };
    let title = format!(
        "{name}{on} by {actor} ({} change) from {} at {}{relation}{times}",
        class.as_str(),
        if e0.source_ip.is_empty() {
            "?"
        } else {
            &e0.source_ip
        },
        when.map(|t| t.format("%H:%M:%SZ").to_string())
            .unwrap_or_default(),
    );
    let mut e = Evidence::new(
        EvidenceKind::AuditChange,
        super::source_name(origins, &g.origins, RecordKind::Cloudtrail),
        title,
    );
    e.count = g.counts.incident;
    e.baseline_count = g.counts.baseline;
    e.first_seen = g.times.iter().min().copied();
    e.last_seen = g.times.iter().max().copied();
    e.onset = when;
    e.signal = evidence::Signal {
        severity,
        anomaly,
        proximity: closeness,
        z,
        new: true,
    };
    e.score = evidence::combine(severity, anomaly, closeness);
    e.detail = Some(format!(
        "{} {} call{} {}; identity {} ({}); user agent {}; parameters {}",
        if person { "manual" } else { "automated" },
        class.as_str(),
        if total == 1 { "" } else { "s" },
        if routine {
            "repeated at a steady rate (routine)"
        } else {
            "not routine"
        },
        e0.identity_arn,
        e0.identity_type,
        super::clip(&e0.user_agent, 80),
        if e0.request_parameters.is_empty() {
            "-"
        } else {
            &e0.request_parameters
        }
    ));
    e.resources = e0.resources.clone();
    e.samples = vec![super::clip_sample(
        &describe_event(e0),
        ctx.config.sample_chars,
    )];
    let locs = super::locators(origins, &g.origins);
    e.reproduce = crate::reproduce::grep_command(&locs, name, Some(".eventName"));
    e.origins = g.origins;
    e
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::telemetry::files::cloudtrail::MAX_PARAMS_LEN;

    /// The SQL predicate selects exactly the names `classify` calls deploy or configuration:
    /// evaluated here with the same regexes, on every listed name, its versioned and family
    /// forms, and names that only start like one.
    #[cfg(feature = "aws")]
    #[test]
    fn the_lookback_sql_selects_the_slow_acting_classes_only() {
        let sql = slow_acting_names_sql("eventname");
        let term = regex::Regex::new(
            r"\(regexp_like\(eventname, '([^']*)'\)(?: AND NOT regexp_like\(eventname, '([^']*)'\))?\)",
        )
        .unwrap();
        let terms: Vec<(regex::Regex, Option<regex::Regex>)> = term
            .captures_iter(&sql)
            .map(|c| {
                (
                    regex::Regex::new(&c[1]).unwrap(),
                    c.get(2).map(|m| regex::Regex::new(m.as_str()).unwrap()),
                )
            })
            .collect();
        assert_eq!(terms.len(), 2, "{sql}");
        let selects = |name: &str| {
            terms.iter().any(|(yes, no)| {
                yes.is_match(name) && no.as_ref().is_none_or(|n| !n.is_match(name))
            })
        };
        let mut names = vec![
            "PutBucketTagging".to_string(),
            "UpdateServiceSettings".to_string(),
            "XUpdateService".to_string(),
        ];
        for (_, list) in CLASSES {
            for n in *list {
                assert!(
                    n.chars().all(|c| c.is_ascii_alphanumeric() || c == '*'),
                    "{n} needs escaping"
                );
                let base = n.trim_end_matches('*');
                names.extend([
                    base.to_string(),
                    format!("{base}20150331v2"),
                    format!("{base}Instance"),
                ]);
            }
        }
        let mut selected = 0;
        for name in &names {
            let ev = AuditEvent {
                event_name: name.clone(),
                identity_type: "AssumedRole".into(),
                ..Default::default()
            };
            let want = classify(&ev).slow_acting();
            assert_eq!(selects(name), want, "{name}");
            selected += usize::from(want);
        }
        assert!(selected > 100, "{selected}");
    }

    #[test]
    fn changes_are_classified_by_what_they_do() {
        let ev = |name: &str, identity_type: &str| AuditEvent {
            event_name: name.into(),
            identity_type: identity_type.into(),
            ..Default::default()
        };
        let cases = [
            ("CreateLogStream", "AssumedRole", ChangeClass::Routine),
            ("AssumeRole", "AssumedRole", ChangeClass::Routine),
            ("GenerateDataKey", "AssumedRole", ChangeClass::Routine),
            ("PutMetricData", "AssumedRole", ChangeClass::Routine),
            // an AWS service acting on its own: a replacement task, a task ENI
            ("RunTask", "AWSService", ChangeClass::Routine),
            ("CreateNetworkInterface", "AWSService", ChangeClass::Routine),
            (
                "UpdateFunctionCode20150331v2",
                "AssumedRole",
                ChangeClass::Deploy,
            ),
            ("UpdateService", "AssumedRole", ChangeClass::Deploy),
            ("StartDeployment", "AssumedRole", ChangeClass::Deploy),
            ("PutParameter", "IAMUser", ChangeClass::Configuration),
            ("UpdateTable", "IAMUser", ChangeClass::Configuration),
            ("PutKeyPolicy", "AssumedRole", ChangeClass::Permission),
            ("DetachRolePolicy", "IAMUser", ChangeClass::Permission),
            (
                "ReplaceNetworkAclEntry",
                "AssumedRole",
                ChangeClass::Network,
            ),
            (
                "RevokeSecurityGroupIngress",
                "IAMUser",
                ChangeClass::Network,
            ),
            ("DeleteTable", "IAMUser", ChangeClass::Data),
            ("PutBucketTagging", "IAMUser", ChangeClass::Other),
            ("ModifyDBInstance", "IAMUser", ChangeClass::Configuration),
            (
                "AuthorizeSecurityGroupEgress",
                "IAMUser",
                ChangeClass::Network,
            ),
            ("DeleteObjects", "IAMUser", ChangeClass::Data),
            (
                "DeleteFunctionConcurrency20171031",
                "IAMUser",
                ChangeClass::Configuration,
            ),
            // a longer name is another action, not a version of this one
            ("CreateServiceLinkedRole", "IAMUser", ChangeClass::Other),
            ("PutImageTagMutability", "IAMUser", ChangeClass::Other),
        ];
        for (name, who, class) in cases {
            assert_eq!(classify(&ev(name, who)), class, "{name} by {who}");
        }
    }

    #[test]
    fn sessions_of_a_role_are_one_actor() {
        let ev = |actor: &str, identity_type: &str| AuditEvent {
            actor: actor.into(),
            identity_type: identity_type.into(),
            ..Default::default()
        };
        assert_eq!(
            actor_key(&ev("codepipeline-deploy/cp-run-412", "AssumedRole")),
            "codepipeline-deploy"
        );
        assert_eq!(actor_key(&ev("ops-dave", "IAMUser")), "ops-dave");
        assert_eq!(ChangeClass::Deploy.severity(false), 0.9);
        assert!(ChangeClass::Other.severity(false) < ChangeClass::Other.severity(true));
    }

    #[test]
    fn every_kept_string_of_an_event_is_capped() {
        let big = "x".repeat(1 << 20);
        let mut e = AuditEvent {
            event_name: big.clone(),
            actor: big.clone(),
            user_agent: big.clone(),
            error_code: "AccessDenied".into(),
            error_message: big.clone(),
            request_parameters: big.clone(),
            resources: vec![big.clone(); 1000],
            ..Default::default()
        };
        bound_event(&mut e);
        assert_eq!(e.event_name.len(), FIELD_BYTES + 3);
        assert_eq!(e.actor.len(), FIELD_BYTES + 3);
        assert_eq!(e.user_agent.len(), FIELD_BYTES + 3);
        assert_eq!(e.error_code, "AccessDenied");
        assert_eq!(e.error_message.len(), MESSAGE_BYTES + 3);
        assert_eq!(e.request_parameters.len(), MAX_PARAMS_LEN + 3);
        assert_eq!(e.resources.len(), MAX_RESOURCES);
        assert!(e.resources.iter().all(|r| r.len() == FIELD_BYTES + 3));
    }
}

//! The Viettel MySign adapter against its simulator, through the shared conformance suite.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kyso_adapter_core::CaAdapter;
use kyso_adapter_testkit::build_adapter;
use kyso_adapter_testkit::{ConformanceTarget, Decision, Fault, conformance_tests};
use kyso_adapter_viettel::{ViettelKind, ViettelSettings};
use kyso_sim_viettel::{Behaviour, CitizenSpec, SimConfig, SimHandle};

const CITIZEN: &str = "001099000001";
const CLIENT_ID: &str = "conformance-sp";
const CLIENT_SECRET: &str = "conformance-secret";
const PROFILE_ID: &str = "adss:ras:profile:001";
/// The adapter's timeout; the simulator's hang outlasts it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

struct Viettel {
    sim: SimHandle,
    adapter: Arc<dyn CaAdapter>,
}

#[async_trait]
impl ConformanceTarget for Viettel {
    async fn start() -> Self {
        let config = SimConfig {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            profile_id: PROFILE_ID.into(),
            user_id_prefix: String::new(),
            citizens: vec![CitizenSpec::new(
                CITIZEN,
                "Nguyễn Văn An",
                Behaviour::Manual,
            )],
            token_lifetime: Duration::from_secs(3600),
            transaction_ttl: Duration::from_secs(120),
        };
        let sim = kyso_sim_viettel::spawn(config).await.unwrap();
        let adapter = build_adapter::<ViettelKind>(
            ViettelSettings::new(
                sim.base_url(),
                CLIENT_ID,
                CLIENT_SECRET.to_owned().into(),
                PROFILE_ID,
            ),
            REQUEST_TIMEOUT,
        );
        Self { sim, adapter }
    }

    fn adapter(&self) -> &dyn CaAdapter {
        &*self.adapter
    }

    fn citizen(&self) -> &str {
        CITIZEN
    }

    fn trust_anchors_pem(&self) -> String {
        self.sim.root_certificate_pem()
    }

    fn decide_next(&self, decision: Decision) {
        let behaviour = match decision {
            Decision::Approve => Behaviour::ApproveAfter(Duration::from_millis(100)),
            Decision::Reject => Behaviour::RejectAfter(Duration::from_millis(100)),
            Decision::Expire => Behaviour::ExpireAfter(Duration::from_millis(100)),
        };
        self.sim
            .control()
            .set_behaviour(CITIZEN, behaviour)
            .unwrap();
    }

    fn fail_next(&self, fault: Fault) {
        self.sim.control().fail_next(match fault {
            Fault::Unavailable => kyso_sim_viettel::Fault::Status(503),
            Fault::Garbage => kyso_sim_viettel::Fault::Garbage,
            Fault::Hang => kyso_sim_viettel::Fault::Hang(REQUEST_TIMEOUT * 3),
        });
    }

    fn corrupt_next_signature(&self) {
        self.sim.control().corrupt_next_signature();
    }

    fn sign_next_with_foreign_key(&self) {
        self.sim.control().sign_next_with_foreign_key();
    }

    /// The simulator stops accepting the token it issued last (the adapter's session).
    fn expire_session(&self) -> bool {
        self.sim.control().expire_current_token()
    }
}

conformance_tests!(Viettel);

//! The CSC adapter against its simulator, through the shared conformance suite.
//!
//! The simulated service knows the citizen under the `userID` `CCCD-<number>`, so the
//! adapter's `user_id_template` is exercised as well.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kyso_adapter_core::CaAdapter;
use kyso_adapter_csc::{CscKind, CscSettings, UserIdTemplate};
use kyso_adapter_testkit::build_adapter;
use kyso_adapter_testkit::{ConformanceTarget, Decision, Fault, conformance_tests};
use kyso_sim_csc::{Behaviour, CitizenSpec, KeyKind, SimConfig, SimHandle};

const CITIZEN: &str = "001099000001";
const CLIENT_ID: &str = "conformance-client";
const CLIENT_SECRET: &str = "conformance-secret";
/// The adapter's timeout; the simulator's hang outlasts it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

struct Csc {
    sim: SimHandle,
    adapter: Arc<dyn CaAdapter>,
}

#[async_trait]
impl ConformanceTarget for Csc {
    async fn start() -> Self {
        let config = SimConfig::new(
            CLIENT_ID,
            CLIENT_SECRET,
            vec![
                CitizenSpec::new(
                    CITIZEN,
                    "Nguyễn Văn An",
                    KeyKind::Rsa2048,
                    Behaviour::Manual,
                )
                .with_user_id(format!("CCCD-{CITIZEN}")),
            ],
        );
        let sim = kyso_sim_csc::spawn(config).await.unwrap();
        let adapter = build_adapter::<CscKind>(
            CscSettings {
                base_url: sim.base_url(),
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.to_owned().into(),
                user_id_template: UserIdTemplate::new("CCCD-{cccd}").unwrap(),
            },
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
        let after = Duration::from_millis(100);
        let behaviour = match decision {
            Decision::Approve => Behaviour::ApproveAfter(after),
            Decision::Reject => Behaviour::RejectAfter(after),
            Decision::Expire => Behaviour::ExpireAfter(after),
        };
        self.sim
            .control()
            .set_behaviour(CITIZEN, behaviour)
            .unwrap();
    }

    fn fail_next(&self, fault: Fault) {
        self.sim.control().fail_next(match fault {
            Fault::Unavailable => kyso_sim_csc::Fault::Status(503),
            Fault::Garbage => kyso_sim_csc::Fault::Garbage,
            Fault::Hang => kyso_sim_csc::Fault::Hang(REQUEST_TIMEOUT * 3),
        });
    }

    fn corrupt_next_signature(&self) {
        self.sim.control().corrupt_next_signature();
    }

    fn sign_next_with_foreign_key(&self) {
        self.sim.control().sign_next_with_foreign_key();
    }

    fn expire_session(&self) -> bool {
        self.sim.control().expire_current_token()
    }
}

conformance_tests!(Csc);

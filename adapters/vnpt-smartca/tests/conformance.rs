//! The VNPT SmartCA adapter against its simulator, through the shared conformance suite.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kyso_adapter_core::CaAdapter;
use kyso_adapter_testkit::{ConformanceTarget, Decision, Fault, build_adapter, conformance_tests};
use kyso_adapter_vnpt::{VnptKind, VnptSettings};
use kyso_sim_vnpt::{Behaviour, CitizenSpec, SignatureScheme, SimConfig, SimHandle};

const CITIZEN: &str = "001099000001";
/// The adapter's timeout; the simulator's hang outlasts it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

struct Vnpt {
    sim: SimHandle,
    adapter: Arc<dyn CaAdapter>,
}

#[async_trait]
impl ConformanceTarget for Vnpt {
    async fn start() -> Self {
        let config = SimConfig {
            sp_id: "conformance-sp".into(),
            sp_password: "conformance-secret".into(),
            citizens: vec![CitizenSpec::new(
                CITIZEN,
                "Nguyễn Văn An",
                SignatureScheme::RsaPkcs1v15,
                Behaviour::Manual,
            )],
            transaction_ttl: Duration::from_secs(300),
        };
        let sim = kyso_sim_vnpt::spawn(config).await.unwrap();
        let adapter = build_adapter::<VnptKind>(
            VnptSettings {
                base_url: sim.base_url(),
                sp_id: "conformance-sp".into(),
                sp_password: "conformance-secret".to_owned().into(),
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
            Fault::Unavailable => kyso_sim_vnpt::Fault::Status(503),
            Fault::Garbage => kyso_sim_vnpt::Fault::Garbage,
            Fault::Hang => kyso_sim_vnpt::Fault::Hang(REQUEST_TIMEOUT * 3),
        });
    }

    fn corrupt_next_signature(&self) {
        self.sim.control().corrupt_next_signature();
    }

    fn sign_next_with_foreign_key(&self) {
        self.sim.control().sign_next_with_foreign_key();
    }

    /// sp769 has no sessions: the SP credentials travel in every request.
    fn expire_session(&self) -> bool {
        false
    }
}

conformance_tests!(Vnpt);

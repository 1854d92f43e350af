//! The FPT eSignCloud adapter against its simulator, through the shared conformance suite.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure should abort loudly

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kyso_adapter_core::CaAdapter;
use kyso_adapter_fpt::{FptKind, FptSettings};
use kyso_adapter_testkit::{ConformanceTarget, Decision, Fault, build_adapter, conformance_tests};
use kyso_sim_fpt::{Behaviour, CitizenSpec, RelyingPartySpec, RpKey, SimConfig, SimHandle};

const CITIZEN: &str = "001099000001";
/// Enrolled under an agreement derived from the CCCD, so that the template is exercised.
const AGREEMENT_TEMPLATE: &str = "conformance-{user_id}";
/// The adapter's timeout; the simulator's hang outlasts it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

struct Fpt {
    sim: SimHandle,
    adapter: Arc<dyn CaAdapter>,
}

#[async_trait]
impl ConformanceTarget for Fpt {
    async fn start() -> Self {
        let config = SimConfig {
            relying_party: RelyingPartySpec {
                name: "CONFORMANCE_RP".into(),
                user: "conformance".into(),
                password: "conformance-password".into(),
                signature: "Y29uZm9ybWFuY2Utc3RhdGljLXNpZ25hdHVyZQ==".into(),
                key: RpKey::Generate,
            },
            citizens: vec![
                CitizenSpec::new(CITIZEN, "Nguyễn Văn An", Behaviour::Manual)
                    .with_agreement_uuid(AGREEMENT_TEMPLATE.replace("{user_id}", CITIZEN)),
            ],
            authorisation_ttl: Duration::from_secs(300),
        };
        let sim = kyso_sim_fpt::spawn(config).await.unwrap();
        let adapter = build_adapter::<FptKind>(
            FptSettings {
                base_url: sim.base_url(),
                relying_party: "CONFORMANCE_RP".into(),
                relying_party_user: "conformance".into(),
                relying_party_password: "conformance-password".to_owned().into(),
                relying_party_signature: "Y29uZm9ybWFuY2Utc3RhdGljLXNpZ25hdHVyZQ=="
                    .to_owned()
                    .into(),
                relying_party_key_pem: sim.relying_party_key_pem().unwrap().into(),
                agreement_uuid_template: AGREEMENT_TEMPLATE.into(),
                issuer_certificates_pem: Some(sim.pinned_chain_pem()),
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
            Fault::Unavailable => kyso_sim_fpt::Fault::Status(503),
            Fault::Garbage => kyso_sim_fpt::Fault::Garbage,
            Fault::Hang => kyso_sim_fpt::Fault::Hang(REQUEST_TIMEOUT * 3),
        });
    }

    fn corrupt_next_signature(&self) {
        self.sim.control().corrupt_next_signature();
    }

    fn sign_next_with_foreign_key(&self) {
        self.sim.control().sign_next_with_foreign_key();
    }

    /// eSignCloud has no sessions: every request carries and signs the RP's credentials.
    fn expire_session(&self) -> bool {
        false
    }
}

conformance_tests!(Fpt);

/// The citizen's chain as the adapter returns it ends in the simulator's root, as the other
/// CAs' chains do: the configured pinned chain (sub-CA, then root) follows the certificate.
#[tokio::test]
async fn the_chain_ends_in_the_simulators_root() {
    let target = Fpt::start().await;
    let certificates = target.adapter().certificates(None, CITIZEN).await.unwrap();
    let chain = &certificates[0].chain_der;
    let root = pem::parse(target.sim.root_certificate_pem()).unwrap();
    let issuing = pem::parse(target.sim.issuing_ca_pem()).unwrap();
    assert_eq!(chain.len(), 2, "sub-CA and root");
    assert_eq!(chain[0], issuing.contents());
    assert_eq!(chain.last().unwrap(), root.contents());
}

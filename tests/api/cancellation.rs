//! Cancelling reaches the CA where its protocol can withdraw a request. No CA in the
//! references documents such a call (each adapter's module doc says so), so the CA here is
//! the VNPT simulator behind an adapter that declares `cancel` and records each withdrawal:
//! what is checked is the gateway's side, that a cancel is recorded first, then sent once,
//! under the CA's reference.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kyso_adapter_core::{
    AdapterDescriptor, AdapterError, CaAdapter, CaCertificate, CaSession, SignOutcome, SignRequest,
};
use kyso_adapter_http::{AdapterFactory, CaHttp, HttpSettings};
use kyso_adapter_vnpt::VnptKind;
use kyso_gateway::audit::{Auditor, Entry, Event};
use kyso_gateway::config::{
    AdapterSettings, AdmissionSettings, AuditSettings, DocumentSettings, RevocationSettings,
    TransactionSettings,
};
use kyso_gateway::documents::Documents;
use kyso_gateway::domain::error::ErrorCode;
use kyso_gateway::domain::request::{DocumentToSign, SigningRequest};
use kyso_gateway::domain::transaction::TransactionStatus;
use kyso_gateway::metrics::Metrics;
use kyso_gateway::providers::sessions::SessionCache;
use kyso_gateway::providers::{Provider, Providers};
use kyso_gateway::services::Signing;
use kyso_gateway::services::admission::Admission;
use kyso_gateway::services::auth::Principal;
use kyso_gateway::store::Store;
use kyso_gateway::store::memory::MemoryStore;
use kyso_gateway::trust::Trust;
use kyso_gateway::verify::TrustAnchors;
use kyso_tests::{RSA_CITIZEN, digest_of, spawn_app};

/// A CA whose protocol can withdraw a pending request: the VNPT simulator, plus a record of
/// every withdrawal asked for.
struct WithdrawingCa {
    descriptor: AdapterDescriptor,
    inner: Arc<dyn CaAdapter>,
    withdrawn: Mutex<Vec<String>>,
}

#[async_trait]
impl CaAdapter for WithdrawingCa {
    fn descriptor(&self) -> &AdapterDescriptor {
        &self.descriptor
    }

    async fn certificates(
        &self,
        session: Option<&CaSession>,
        user_id: &str,
    ) -> Result<Vec<CaCertificate>, AdapterError> {
        self.inner.certificates(session, user_id).await
    }

    async fn begin_sign(
        &self,
        session: Option<&CaSession>,
        request: &SignRequest,
    ) -> Result<SignOutcome, AdapterError> {
        self.inner.begin_sign(session, request).await
    }

    async fn poll(
        &self,
        session: Option<&CaSession>,
        ca_reference: &str,
    ) -> Result<SignOutcome, AdapterError> {
        self.inner.poll(session, ca_reference).await
    }

    fn caller_reference(&self, request: &SignRequest) -> Option<String> {
        self.inner.caller_reference(request)
    }

    async fn cancel(&self, _: Option<&CaSession>, ca_reference: &str) -> Result<(), AdapterError> {
        self.withdrawn.lock().unwrap().push(ca_reference.to_owned());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_is_recorded_then_withdrawn_once_at_a_ca_that_can() {
    let app = spawn_app().await;
    let configured = &app.settings.providers[0];
    let AdapterSettings::VnptSmartca(vnpt) = &configured.adapter else {
        unreachable!("the test provider is a vnpt-smartca one");
    };
    let mut capabilities = VnptKind::default_capabilities();
    capabilities.cancel = true;
    let descriptor = AdapterDescriptor {
        id: "vnpt".into(),
        kind: VnptKind::KIND,
        display_name: "VNPT that can withdraw".into(),
        capabilities,
    };
    let http = CaHttp::new(HttpSettings::new(
        Duration::from_secs(1),
        Duration::from_secs(2),
    ))
    .unwrap();
    let ca = Arc::new(WithdrawingCa {
        descriptor: descriptor.clone(),
        inner: VnptKind::build(descriptor, vnpt.clone(), http).unwrap(),
        withdrawn: Mutex::default(),
    });
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let anchors = TrustAnchors::from_pem(configured.trust_anchors_pem.as_deref().unwrap()).unwrap();
    let metrics = Metrics::new().unwrap();
    let provider = Provider::new(
        ca.clone(),
        anchors,
        metrics.clone(),
        SessionCache::new(store.clone(), "instance", Duration::from_secs(2)),
        Duration::from_secs(2),
    );
    let trust = Trust::new(
        &RevocationSettings::default(),
        store.clone(),
        metrics.clone(),
    )
    .unwrap();
    let admission = Admission::new(
        &AdmissionSettings::default(),
        &[],
        store.clone(),
        metrics.clone(),
    )
    .unwrap();
    let auditor = Auditor::new(
        store.clone(),
        &AuditSettings::default(),
        metrics.clone(),
        "instance".into(),
        Entry::new(Event::ConfigLoaded, "loaded"),
    )
    .unwrap();
    let signing = Signing::new(
        store,
        Arc::new(Providers::from_providers([provider])),
        Arc::new(trust),
        Arc::new(admission),
        metrics.clone(),
        TransactionSettings::default(),
        tokio::runtime::Handle::current(),
        "instance".into(),
        auditor,
        Arc::new(Documents::from_settings(&DocumentSettings::default(), &metrics).unwrap()),
    );
    let portal = Principal {
        client_id: "portal".into(),
        scopes: Vec::new(),
    };
    let request = SigningRequest {
        provider: "vnpt".into(),
        user_id: RSA_CITIZEN.into(),
        certificate_id: None,
        hash_algorithm: kyso_adapter_core::HashAlgorithm::Sha256,
        documents: vec![DocumentToSign {
            id: "d1".into(),
            name: "đơn.pdf".into(),
            digest: Some(digest_of("withdraw me")),
            ..DocumentToSign::default()
        }],
        description: None,
    };
    let submitted = signing
        .submit(&portal, Some("withdraw"), request)
        .await
        .unwrap();
    let id = submitted.transaction.id;
    assert!(ca.withdrawn.lock().unwrap().is_empty());

    let cancelled = signing.cancel(&portal, &id).await.unwrap();
    assert_eq!(cancelled.status, TransactionStatus::Cancelled);
    assert_eq!(
        *ca.withdrawn.lock().unwrap(),
        std::slice::from_ref(&id),
        "withdrawn under the CA's reference"
    );

    // A cancelled transaction stays cancelled, and the CA is not asked again.
    let again = signing.cancel(&portal, &id).await.unwrap_err();
    assert_eq!(again.code, ErrorCode::TransactionNotPending);
    assert_eq!(ca.withdrawn.lock().unwrap().len(), 1);
    // The citizen approving afterwards changes nothing: the signature is discarded.
    app.ca.approve(&id).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let principal_view = signing.load_owned(&portal, &id).await.unwrap();
    assert_eq!(principal_view.status, TransactionStatus::Cancelled);
}

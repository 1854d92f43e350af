//! MISA eSign RemoteSigning wire format, declared here from MISA's integration guide ("Tài liệu
//! tích hợp API eSign RemoteSigning - V2", summarised in `ca-apis.md` §6 of the project's
//! reference notes).
//!
//! These types are deliberately independent of `kyso-adapter-misa`: if both sides shared one set
//! of structs, a translation bug in the adapter would be mirrored here and every test would pass.
//! MISA's API is .NET: request field names are matched as MISA writes them (camelCase for the
//! auth API, PascalCase for Signing/hash), with the other casing accepted as an alias, as .NET
//! model binding would. Unknown request fields are ignored.

use serde::{Deserialize, Serialize};

/// MISA's error body (`ResponseError`) on every endpoint but the login family.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResponseError {
    pub(crate) error: String,
    pub(crate) error_code: String,
    pub(crate) dev_msg: String,
    pub(crate) user_msg: String,
}

/// `POST …/auth/login-api`.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginRequest {
    #[serde(rename = "userName", alias = "UserName", alias = "username")]
    pub(crate) user_name: String,
    #[serde(alias = "Password")]
    pub(crate) password: String,
}

/// `POST …/auth/two-factor-auth`.
#[derive(Debug, Deserialize)]
pub(crate) struct TwoFactorRequest {
    #[serde(rename = "userName", alias = "UserName", alias = "username")]
    pub(crate) user_name: String,
    #[serde(alias = "Code")]
    pub(crate) code: String,
    /// 0: code sent by SMS/e-mail, 1: code from the authenticator app. Not interpreted.
    #[serde(default, rename = "otpType", alias = "OtpType")]
    #[allow(dead_code)]
    pub(crate) otp_type: Option<u8>,
    /// "Remember this device". Not interpreted.
    #[serde(default, alias = "Remember")]
    #[allow(dead_code)]
    pub(crate) remember: Option<bool>,
}

/// `POST …/auth/resend-otp-auth`.
#[derive(Debug, Deserialize)]
pub(crate) struct ResendOtpRequest {
    #[serde(rename = "userName", alias = "UserName", alias = "username")]
    pub(crate) user_name: String,
    /// Language of the notification (`en-US`, …). Not interpreted.
    #[serde(default, alias = "Language")]
    #[allow(dead_code)]
    pub(crate) language: Option<String>,
}

/// `POST …/auth/refreshtoken`.
#[derive(Debug, Deserialize)]
pub(crate) struct RefreshRequest {
    #[serde(rename = "refreshToken", alias = "RefreshToken")]
    pub(crate) refresh_token: String,
}

/// The `eSign-login` answer of login-api and two-factor-auth: `{status, data}`.
#[derive(Debug, Serialize)]
pub(crate) struct LoginEnvelope {
    pub(crate) status: LoginStatus,
    pub(crate) data: Option<TokenData>,
}

/// The `status` object of the login family.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginStatus {
    /// `success` or `fail`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// Mirrors the HTTP status.
    pub(crate) code: u16,
    pub(crate) message: String,
    pub(crate) error: bool,
    /// An integer, present when `error` is true (`122`: two-factor authentication needed).
    pub(crate) error_code: Option<u32>,
    pub(crate) dev_msg: Option<String>,
    pub(crate) user_msg: Option<String>,
}

/// `data` of a successful login (`data_token`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenData {
    /// The MISAID token (not accepted by the eSign endpoints).
    pub(crate) access_token: String,
    /// The token the eSign endpoints take in `AuthorizationRM`.
    pub(crate) remote_signing_access_token: String,
    pub(crate) token_type: &'static str,
    /// Seconds.
    pub(crate) expires_in: u64,
    pub(crate) refresh_token: String,
    pub(crate) user: LoginUser,
    /// Which second factors are the account's defaults.
    pub(crate) default: SecondFactors,
    pub(crate) verify_user: VerifyUser,
}

/// `data.user`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginUser {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) phone_number: String,
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    pub(crate) username: String,
}

/// `data.default`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SecondFactors {
    pub(crate) email: bool,
    pub(crate) phone_number: bool,
    pub(crate) app_authenticator: bool,
}

/// `data.verifyUser`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerifyUser {
    pub(crate) emails_verify: bool,
    pub(crate) phone_number_is_verify: bool,
    pub(crate) is_change_password: bool,
}

/// The refreshtoken answer: flat, unlike login's.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefreshResponse {
    pub(crate) remote_signing_access_token: String,
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    pub(crate) expires_in: u64,
}

/// The resend-otp-auth answer.
#[derive(Debug, Serialize)]
pub(crate) struct ResendOtpResponse {
    pub(crate) status: LoginStatus,
    pub(crate) data: ResendOtpData,
}

/// `data` of the resend-otp-auth answer.
#[derive(Debug, Serialize)]
pub(crate) struct ResendOtpData {
    pub(crate) user: ResendOtpUser,
}

/// `data.user` of the resend-otp-auth answer.
#[derive(Debug, Serialize)]
pub(crate) struct ResendOtpUser {
    pub(crate) username: String,
}

/// One certificate (`Cert`), as `Certificates/by-userId` (in an array) and
/// `Certificates/by-certId` answer it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Cert {
    /// MISA's subscriber id: the `UserId` of Signing/hash.
    pub(crate) user_id: String,
    /// MISA's key id: the `CertAlias` of Signing/hash.
    pub(crate) key_alias: String,
    pub(crate) app_name: &'static str,
    /// `ACTIVE` or `INACTIVE`.
    pub(crate) key_status: &'static str,
    /// Base64 DER of the signer certificate.
    pub(crate) certificate: String,
    /// Base64 DER: the signer certificate, MISA-CA's intermediate, the root. The spelling is
    /// MISA's.
    pub(crate) certiticate_chain: Vec<String>,
    /// `ACTIVE` or `INACTIVE`.
    pub(crate) cert_status: &'static str,
    pub(crate) effective_date: String,
    pub(crate) expiration_date: String,
    pub(crate) email_name: String,
    pub(crate) is_auto_sign: bool,
}

/// `POST …/Signing/hash`.
#[derive(Debug, Deserialize)]
pub(crate) struct SignHashRequest {
    /// Shown to the citizen in the app; may be HTML.
    #[serde(rename = "DataToBeDisplayed", alias = "dataToBeDisplayed")]
    pub(crate) data_to_be_displayed: String,
    /// `Cert.userId`.
    #[serde(rename = "UserId", alias = "userId")]
    pub(crate) user_id: String,
    /// `Cert.keyAlias`.
    #[serde(rename = "CertAlias", alias = "certAlias")]
    pub(crate) cert_alias: String,
    #[serde(rename = "Documents", alias = "documents")]
    pub(crate) documents: Vec<SignDocument>,
}

/// One entry of `Documents`.
#[derive(Debug, Deserialize)]
pub(crate) struct SignDocument {
    /// At most 36 characters.
    #[serde(rename = "DocumentId", alias = "documentId")]
    pub(crate) document_id: String,
    /// The digest to sign: base64 of the 32 SHA-256 bytes (the simulator's reading; MISA's
    /// `digest` comes from its own hash API).
    #[serde(rename = "FileToSign", alias = "fileToSign")]
    pub(crate) file_to_sign: String,
    /// At most 100 characters.
    #[serde(rename = "DocumentName", alias = "documentName")]
    pub(crate) document_name: String,
}

/// The Signing/hash answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignHashResponse {
    pub(crate) transaction_id: String,
}

/// The Signing/status answer (`Sign_status`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignStatus {
    pub(crate) transaction_id: String,
    /// `PENDING`, `SUCCESS` or `FAILED`.
    pub(crate) status: &'static str,
    pub(crate) error_code: Option<&'static str>,
    pub(crate) error_description: Option<&'static str>,
    /// Only with `SUCCESS`: one per document, in request order.
    pub(crate) signatures: Option<Vec<SignatureItem>>,
}

/// One signature of a `SUCCESS` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignatureItem {
    pub(crate) document_id: String,
    /// Base64 of the raw RSA PKCS#1 v1.5 signature (the simulator's choice; MISA does not say).
    pub(crate) signature: String,
}

/// `status` of a transaction waiting for the citizen.
pub(crate) const STATUS_PENDING: &str = "PENDING";
/// `status` of a transaction whose every document is signed.
pub(crate) const STATUS_SUCCESS: &str = "SUCCESS";
/// `status` of a refused, expired or failed transaction.
pub(crate) const STATUS_FAILED: &str = "FAILED";

/// `errorCode` of a `FAILED` transaction the citizen refused (the simulator's word).
pub(crate) const CODE_REJECTED: &str = "UserRejected";
/// `errorDescription` that goes with [`CODE_REJECTED`].
pub(crate) const DESCRIPTION_REJECTED: &str = "Người dùng từ chối yêu cầu ký";
/// `errorCode` of a `FAILED` transaction nobody answered in time (the simulator's word).
pub(crate) const CODE_EXPIRED: &str = "TransactionExpired";
/// `errorDescription` that goes with [`CODE_EXPIRED`].
pub(crate) const DESCRIPTION_EXPIRED: &str = "Yêu cầu ký đã hết hạn xác nhận";

/// The login `errorCode` meaning "two-factor authentication required" (MISA's).
pub(crate) const LOGIN_NEEDS_SECOND_FACTOR: u32 = 122;
/// The login `errorCode` for a wrong user name or password (the simulator's number).
pub(crate) const LOGIN_BAD_CREDENTIALS: u32 = 101;
/// The login `errorCode` for a wrong or unexpected one-time code (the simulator's number).
pub(crate) const LOGIN_BAD_OTP: u32 = 123;
/// The login `errorCode` for a malformed body (the simulator's number).
pub(crate) const LOGIN_BAD_REQUEST: u32 = 400;

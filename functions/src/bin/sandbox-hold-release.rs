//! Lambda function for the route `Route::SandboxHoldRelease` (see `pixgw_api::routes::ROUTES`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    pixgw_functions::serve(pixgw_api::Route::SandboxHoldRelease).await
}

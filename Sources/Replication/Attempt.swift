/// Runs a typed-throwing async operation and captures its outcome, so that
/// several can be awaited side by side and their failures judged together.
func attempt<Failure: Error>(_ body: () async throws(Failure) -> Void) async -> Result<Void, Failure> {
    do {
        try await body()
        return .success(())
    } catch {
        return .failure(error)
    }
}

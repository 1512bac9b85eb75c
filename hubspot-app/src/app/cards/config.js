// Where the connector runs. hubspot.fetch only reaches URLs listed in permittedUrls.fetch of
// ../app-hsmeta.json: change both together (tests/cards/test_card_hsmeta.py checks they agree).
export const CONNECTOR_BASE_URL = "https://connector.example.com";

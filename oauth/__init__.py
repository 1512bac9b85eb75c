"""OAuth installs: HubSpot app config and consent URL, state, token exchange, encrypted token
storage, refresh (TokenManager), disconnect and purge."""

// Entry point of the "Payment status" app card (payment-status-hsmeta.json).
import React from "react";
import { hubspot } from "@hubspot/ui-extensions";
import { PaymentStory } from "./PaymentStory.jsx";

hubspot.extend(({ context }) => (
  <PaymentStory objectId={context.crm.objectId} portalId={context.portal.id}
    userId={context.user.id} userEmail={context.user.email} />
));

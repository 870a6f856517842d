"""SendGrid email: v3 Mail Send (POST /v3/mail/send, `Authorization: Bearer <API key>`), plain text.

One personalization per recipient, so each gets their own email and no one sees the others' addresses.
"""

from __future__ import annotations

from .base import Channel, Field, Message, OutgoingRequest
from .checks import check_emails, clean_fields, finish, setting_url, truncate

SUBJECT_LIMIT = 998  # one header line (RFC 5322)


class SendGridEmailChannel(Channel):
    key = "sendgrid_email"
    label = "Email (SendGrid)"
    fields = (
        Field("api_key", "API key", secret=True, help="A SendGrid API key with the Mail Send permission."),
        Field("sender", "From", help="A verified sender address of your SendGrid account."),
        Field("recipients", "To", kind="list", help="Email addresses, one per line or separated by commas."),
    )
    base_url_setting = "PREFECT_NOTIFICATIONS_SENDGRID_URL"

    def clean(self, config: dict) -> dict:
        cleaned, errors = clean_fields(self.fields, config)
        if "sender" in cleaned and (message := check_emails([cleaned["sender"]])):
            errors["sender"] = message
        if "recipients" in cleaned and (message := check_emails(cleaned["recipients"])):
            errors["recipients"] = message
        return finish(cleaned, errors)

    def requests_for(self, message: Message, config: dict) -> list[OutgoingRequest]:
        subject = " ".join(message.subject.split()) or "Flow run notification"
        mail = {
            "personalizations": [{"to": [{"email": address}]} for address in config["recipients"]],
            "from": {"email": config["sender"]},
            "subject": truncate(subject, SUBJECT_LIMIT),
            "content": [{"type": "text/plain", "value": message.body}],
        }
        return [
            OutgoingRequest(
                "POST",
                f"{setting_url(self.base_url_setting)}/v3/mail/send",
                headers={"Authorization": f"Bearer {config['api_key']}"},
                json=mail,
            )
        ]

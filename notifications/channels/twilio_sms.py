"""Twilio SMS: Programmable Messaging, one message per recipient.

POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded To / From / Body, HTTP Basic
auth with the account SID and auth token. The text is kept within two SMS segments: the message
itself when it fits, else its subject and the link to the run.
"""

from __future__ import annotations

import re

from .base import Channel, Field, Message, OutgoingRequest
from .checks import check_phone_numbers, clean_fields, finish, setting_url, truncate

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
SMS_LIMIT = 320


def sms_text(message: Message) -> str:
    if len(message.body) <= SMS_LIMIT:
        return message.body
    if not message.run_url:
        return truncate(message.body, SMS_LIMIT)
    room = SMS_LIMIT - len(message.run_url) - 1
    return f"{truncate(message.subject, room)}\n{message.run_url}" if room > 20 else truncate(message.body, SMS_LIMIT)


class TwilioSmsChannel(Channel):
    key = "twilio_sms"
    label = "SMS (Twilio)"
    fields = (
        Field("account_sid", "Account SID", help="AC followed by 32 hexadecimal characters (Twilio Console)."),
        Field("auth_token", "Auth token", secret=True),
        Field("from_number", "From", help="A Twilio phone number of the account, in E.164 form (+14155550123)."),
        Field("to_numbers", "To", kind="list", help="Phone numbers in E.164 form, one per line or separated by commas."),
    )
    base_url_setting = "PREFECT_NOTIFICATIONS_TWILIO_URL"

    def clean(self, config: dict) -> dict:
        cleaned, errors = clean_fields(self.fields, config)
        if "account_sid" in cleaned and not ACCOUNT_SID.match(cleaned["account_sid"]):
            errors["account_sid"] = "An Account SID is AC followed by 32 hexadecimal characters."
        if "from_number" in cleaned and (message := check_phone_numbers([cleaned["from_number"]])):
            errors["from_number"] = message
        if "to_numbers" in cleaned and (message := check_phone_numbers(cleaned["to_numbers"])):
            errors["to_numbers"] = message
        return finish(cleaned, errors)

    def requests_for(self, message: Message, config: dict) -> list[OutgoingRequest]:
        sid = config["account_sid"]
        url = f"{setting_url(self.base_url_setting)}/2010-04-01/Accounts/{sid}/Messages.json"
        body = sms_text(message)
        return [
            OutgoingRequest(
                "POST", url, data={"To": number, "From": config["from_number"], "Body": body},
                auth=(sid, config["auth_token"]),
            )
            for number in config["to_numbers"]
        ]

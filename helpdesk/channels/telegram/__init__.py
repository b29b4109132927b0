"""The Telegram channel. Importing this package costs nothing: aiogram (seconds to import) is
loaded only by `service` and `outbound`, which the runtime imports when a bot token is set."""

CHANNEL = "telegram"
WEBHOOK_PATH = "/api/telegram/webhook"

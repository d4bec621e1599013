"""Default settings. Overridden by ``instance/config.py``, then by ``SURVEY_*`` environment variables."""

#: Vietnamese first: the platform serves Vietnamese citizens; English is the second language.
BABEL_DEFAULT_LOCALE = "vi"
BABEL_DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
LANGUAGES = {"vi": "Tiếng Việt", "en": "English"}

#: Seconds within which a second, different rating from the same kiosk is refused as a burst.
KIOSK_MIN_INTERVAL_SECONDS = 5
#: Seconds of inactivity on the follow-up questions before the kiosk asks "do you need more time?".
KIOSK_IDLE_SECONDS = 60
#: Seconds the "do you need more time?" warning waits for an answer (WCAG 2.2.1 asks for at least 20).
KIOSK_WARNING_SECONDS = 30
#: Seconds the thank-you screen counts down (visibly, and can be stopped) before the start screen returns.
KIOSK_THANKS_SECONDS = 20
#: Minutes after the first tap during which the same citizen may still add follow-up answers.
FOLLOW_UP_WINDOW_MINUTES = 30
#: Largest request body accepted (a rating is a few hundred bytes); larger gets a 413 with a message.
MAX_CONTENT_LENGTH = 64 * 1024
#: Longest comment accepted, in characters.
COMMENT_MAX_LENGTH = 1000

#: Phone ratings from one address; a shared office Wi-Fi still fits comfortably under this.
PHONE_RATE_LIMIT = "60 per hour"
RATELIMIT_STORAGE_URI = "memory://"
RATELIMIT_HEADERS_ENABLED = True

SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True

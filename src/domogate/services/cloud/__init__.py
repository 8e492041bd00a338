"""The cloud's use cases (``domogate cloud serve``): who may link an installation
(``installations``) and the cloud's audit trail (``audit``), over the ``CloudStore`` port."""

import futu_buybacks; futu_buybacks.install()   # the one line added to the vendor's example
from moomoo import *
import pandas as pd
quote_ctx = OpenQuoteContext(host='127.0.0.1', port=11111)
ret, data = quote_ctx.get_corporate_actions_buybacks("HK.00700", num=3)
if ret == RET_OK:
    df = pd.DataFrame(data.get('hk_buy_back_list', []))
    print(df.to_string(index=False))
else:
    print('error:', data)
quote_ctx.close()
